"""The web shell's own hook implementations (a default plugin)."""

from __future__ import annotations

from hubcore.hookspecs import hookimpl


@hookimpl(trylast=True)
def hubcore_register(app):
    from hubcore.web import password_pages  # noqa: F401  (its routes join the blueprint)
    from hubcore.web.pages import web

    app.register_blueprint(web)

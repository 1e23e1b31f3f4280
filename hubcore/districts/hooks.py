"""The districts core's own hook implementations (a default plugin)."""

from __future__ import annotations

from hubcore.hookspecs import hookimpl


@hookimpl
def hubcore_register(app):
    from hubcore.districts import gazetteer
    from hubcore.districts.api import districts_api
    from hubcore.districts.outcodes import load_outcodes

    settings = app.extensions["hubcore"].settings
    load_outcodes(settings.region)  # a broken or missing table stops start-up, not a lookup
    if settings.geocoder:
        gazetteer.geocoder_class(settings.geocoder)  # an unknown name stops start-up
    app.register_blueprint(districts_api)

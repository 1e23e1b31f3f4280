"""Hubcore: coordinates a city-region's community response.

``create_app`` builds the app; plugins implement hooks marked ``hookimpl``.
"""

from hubcore.hookspecs import hookimpl

__all__ = ["create_app", "hookimpl"]


def create_app(*args, **kwargs):
    from hubcore.app import create_app as factory

    return factory(*args, **kwargs)

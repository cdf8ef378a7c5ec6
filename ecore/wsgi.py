import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecore.settings")

application = get_wsgi_application()


def _warm_up() -> None:
    """What a web process's first request would otherwise wait for (about a second): every view
    module, imported through the URLconf, and the reference lists that matching reads."""
    from django.urls import get_resolver

    from sources.normalize import preload

    get_resolver().url_patterns  # noqa: B018 (the property imports the views)
    preload()


_warm_up()

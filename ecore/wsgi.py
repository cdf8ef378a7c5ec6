import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecore.settings")

application = get_wsgi_application()


def _warm_up() -> None:
    """What a web process's first request would otherwise wait for (about a second): every view
    module, imported through the URLconf, the modules the row stages import when first used, and
    the reference lists that matching reads."""
    import importlib

    from django.urls import get_resolver

    from sources.normalize import preload

    get_resolver().url_patterns  # noqa: B018 (the property imports the views)
    for module in ("sources.company_search", "sources.email_validation", "enrichment.pipeline.pro",
                   "enrichment.webhooks"):
        importlib.import_module(module)
    preload()


def _lookups_bounded() -> None:
    from sources.sql import lookup_statement_timeout_enable

    lookup_statement_timeout_enable()


_lookups_bounded()
_warm_up()

from django.contrib.admin.apps import AdminConfig


class EcoreAdminConfig(AdminConfig):
    """Django's admin, with eCore's site as `admin.site` (every `@admin.register` lands there)."""

    default_site = "ecore.admin_site.EcoreAdminSite"

"""The environment reader every setting goes through: django-environ's, with booleans that fail loudly."""

import environ
from django.core.exceptions import ImproperlyConfigured


class Env(environ.Env):
    """django-environ's `Env`, except that a boolean must say true or false.

    Its own `bool` takes anything it does not recognise as false, so `BIGQUERY_ENABLED=ture` would start
    a service with BigQuery silently off. Here that stops start-up with ImproperlyConfigured. An empty
    value counts as unset (compose files and shells pass `NAME=` for "no value").
    """

    FALSE_STRINGS = ("false", "off", "no", "n", "0")

    def bool(self, var, default=environ.Env.NOTSET) -> bool:
        value = self.str(var, default="").strip()
        if not value:
            if default is self.NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable (true or false)")
            return default
        if value.lower() in self.BOOLEAN_TRUE_STRINGS:
            return True
        if value.lower() in self.FALSE_STRINGS:
            return False
        raise ImproperlyConfigured(
            f"{var}={value!r} is not a boolean: use true or false (also accepted: 1/0, yes/no, on/off)")

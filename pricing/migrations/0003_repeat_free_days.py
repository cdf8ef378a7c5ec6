from django.db import migrations

from pricing.defaults import create_missing_default_prices


def create_repeat_free_days(apps, schema_editor):
    create_missing_default_prices(apps.get_model("pricing", "Price"))


class Migration(migrations.Migration):
    dependencies = [("pricing", "0002_default_prices")]
    operations = [migrations.RunPython(create_repeat_free_days, migrations.RunPython.noop)]

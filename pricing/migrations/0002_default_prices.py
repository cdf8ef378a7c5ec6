from django.db import migrations

from pricing.defaults import create_missing_default_prices


def create_default_prices(apps, schema_editor):
    create_missing_default_prices(apps.get_model("pricing", "Price"))


class Migration(migrations.Migration):
    dependencies = [("pricing", "0001_initial")]
    operations = [migrations.RunPython(create_default_prices, migrations.RunPython.noop)]

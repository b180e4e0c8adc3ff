"""``StreamItem.data`` reads through ``StoredJSONDecoder``: a change of the model's state only. The column is
the same, and SQLite would otherwise copy the whole table to alter a field."""

import motia_django.encoding
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("motia_django", "0004_streamgroup_presencelease"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.AlterField(
                model_name="streamitem",
                name="data",
                field=models.JSONField(decoder=motia_django.encoding.StoredJSONDecoder, default=dict,
                                       verbose_name="data"),
            ),
        ]),
    ]

"""Stream items, events and state read their JSON through ``StoredJSONDecoder``: a change of the models' state
only. The columns are the same, and SQLite would otherwise copy each whole table to alter a field."""

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
            migrations.AlterField(
                model_name="event",
                name="data",
                field=models.JSONField(blank=True, decoder=motia_django.encoding.StoredJSONDecoder, default=dict,
                                       verbose_name="data"),
            ),
            migrations.AlterField(
                model_name="stateentry",
                name="value",
                field=models.JSONField(blank=True, decoder=motia_django.encoding.StoredJSONDecoder, null=True,
                                       verbose_name="value"),
            ),
        ]),
    ]

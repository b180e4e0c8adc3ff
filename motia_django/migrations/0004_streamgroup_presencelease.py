from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("motia_django", "0003_cron_schedule"),
    ]

    operations = [
        migrations.CreateModel(
            name="StreamGroup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("stream", models.CharField(max_length=128, verbose_name="stream")),
                ("group_id", models.CharField(max_length=255, verbose_name="group id")),
                ("seq", models.PositiveBigIntegerField(default=0, verbose_name="sequence")),
                ("floor", models.BigIntegerField(default=0, verbose_name="timestamp floor (ms)")),
            ],
            options={
                "verbose_name": "stream group",
                "verbose_name_plural": "stream groups",
                "constraints": [models.UniqueConstraint(fields=("stream", "group_id"), name="motia_streamgroup_key")],
            },
        ),
        migrations.CreateModel(
            name="PresenceLease",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("stream", models.CharField(max_length=128, verbose_name="stream")),
                ("group_id", models.CharField(max_length=255, verbose_name="group id")),
                ("member_id", models.CharField(max_length=255, verbose_name="member id")),
                ("connection_id", models.CharField(max_length=64, verbose_name="connection id")),
                ("expires_at", models.DateTimeField(db_index=True, verbose_name="expires at")),
            ],
            options={
                "verbose_name": "presence lease",
                "verbose_name_plural": "presence leases",
                "indexes": [models.Index(fields=["stream", "group_id", "member_id"], name="motia_presence_member")],
                "constraints": [models.UniqueConstraint(fields=("stream", "group_id", "member_id", "connection_id"),
                                                        name="motia_presencelease_key")],
            },
        ),
    ]

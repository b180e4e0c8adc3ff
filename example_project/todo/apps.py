from django.apps import AppConfig


class TodoConfig(AppConfig):
    name = "example_project.todo"
    label = "todo"
    default_auto_field = "django.db.models.BigAutoField"

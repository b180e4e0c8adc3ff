from django.contrib import admin

from example_project.todo.models import Todo


@admin.register(Todo)
class TodoAdmin(admin.ModelAdmin):
    """Editing a todo here updates every browser subscribed to its list."""

    list_display = ("id", "title", "list_id", "done", "updated_at")
    list_editable = ("done",)
    list_filter = ("done",)
    search_fields = ("title", "list_id")

from rest_framework import serializers

from example_project.todo.models import Todo


class TodoSerializer(serializers.ModelSerializer):
    """A todo as the API and the ``todos`` stream's subscribers see it."""

    class Meta:
        model = Todo
        fields = ["id", "list_id", "title", "done"]
        read_only_fields = ["id"]

from rest_framework import viewsets

from example_project.todo.models import Todo
from example_project.todo.serializers import TodoSerializer


class TodoViewSet(viewsets.ModelViewSet):
    """``/todos/``: the usual DRF CRUD; ``?list_id=`` keeps one list. Each write reaches the list's subscribers."""

    serializer_class = TodoSerializer

    def get_queryset(self):
        todos = Todo.objects.all()
        list_id = self.request.query_params.get("list_id")
        return todos.filter(list_id=list_id) if list_id else todos

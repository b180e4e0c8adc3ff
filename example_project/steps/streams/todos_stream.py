# A stream backed by a Django model: the todo app's rows, grouped by their list. Saves and deletes through the
# ORM, the admin and /todos/ reach the list's subscribers; the item shape is the serializer's, its id the pk.


def can_access(subscription, auth_context):
    """The example's todo lists are public, as its /todos/ API is: said here, so the choice is explicit (a
    model-backed stream without canAccess is check warning motia_django.W022)."""
    return True


config = {
    "name": "todos",
    "model": "todo.Todo",
    "group_by": "list_id",
    "serializer": "example_project.todo.serializers.TodoSerializer",
    "canAccess": can_access,
}

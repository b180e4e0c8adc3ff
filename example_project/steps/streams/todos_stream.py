# A stream backed by a Django model: the todo app's rows, grouped by their list. Saves and deletes through the
# ORM, the admin and /todos/ reach the list's subscribers; the item shape is the serializer's, its id the pk.
config = {
    "name": "todos",
    "model": "todo.Todo",
    "group_by": "list_id",
    "serializer": "example_project.todo.serializers.TodoSerializer",
}

# Each todo list's counts, kept up to date by the CountTodos step (a stream trigger on the todos stream): a page
# shows "2 of 5 done" live without counting the list itself.
config = {
    "name": "todoStats",
    "schema": {
        "type": "object",
        "properties": {"total": {"type": "integer"}, "done": {"type": "integer"}},
        "required": ["total", "done"],
    },
}

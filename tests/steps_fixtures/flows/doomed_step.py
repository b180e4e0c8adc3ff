config = {"type": "event", "name": "Doomed", "subscribes": ["tests.doomed"], "emits": []}


def handler(input, context):
    raise ValueError("always fails")

config = {"type": "event", "name": "WorkerDoomed", "subscribes": ["worker.doomed"], "emits": []}


def handler(input, context):
    raise RuntimeError("doomed in the worker")

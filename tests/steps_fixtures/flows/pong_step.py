"""Sync event step (runs in a thread): receives what Ping emitted, with the same trace id."""

config = {"type": "event", "name": "Pong", "subscribes": ["tests.pong"], "emits": [], "flows": ["tests"]}


def handler(input, context):
    context.state.set("pongs", context.trace_id, input)

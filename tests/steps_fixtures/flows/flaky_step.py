"""Fails until it has been called ``fail_times`` times (counted in state), then succeeds."""

config = {"type": "event", "name": "Flaky", "subscribes": ["tests.flaky"], "emits": []}


async def handler(input, context):
    calls = (await context.state.get("flaky", context.trace_id) or 0) + 1
    await context.state.set("flaky", context.trace_id, calls)
    if calls <= input.get("fail_times", 0):
        raise RuntimeError(f"flaky failure {calls}")

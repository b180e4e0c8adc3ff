"""Async event step: records the trace id and data it got in the flow state."""

config = {
    "type": "event", "name": "Ping", "subscribes": ["tests.ping"], "emits": ["tests.pong"], "flows": ["tests"],
    "input": {"type": "object", "properties": {"n": {"type": "integer"}}},
}


async def handler(input, context):
    context.logger.info("ping", input)
    await context.state.set("pings", context.trace_id, {"input": input, "step": context.step.name})
    await context.emit({"topic": "tests.pong", "data": input})

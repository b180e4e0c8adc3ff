"""An async API step that emits: the start of the test flow."""

config = {
    "type": "api", "name": "Start", "method": "POST", "path": "/start", "flows": ["tests"],
    "emits": ["tests.ping", "tests.flaky", "tests.doomed", "tests.strict"],
    "bodySchema": {"type": "object", "properties": {"topic": {"type": "string"}, "data": {}}, "required": ["topic"]},
}


async def handler(req, context):
    ids = await context.emit({"topic": req["body"]["topic"], "data": req["body"].get("data", {})})
    return {"status": 202, "body": {"traceId": context.trace_id, "events": ids}}

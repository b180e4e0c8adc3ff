"""A sync API step: echoes what it received, so tests can see the req mapping."""

config = {
    "type": "api", "name": "Echo", "method": "POST", "path": "/echo/:kind/:id", "flows": ["tests"],
    "queryParams": [{"name": "q", "description": "anything"}],
    "emits": [],
}


def handler(req, context):
    return {"status": 200, "body": {"req": {k: v for k, v in req.items() if k != "user"},
                                    "trace_id": context.trace_id, "traceId": context.traceId},
            "headers": {"x-step": "Echo"}}

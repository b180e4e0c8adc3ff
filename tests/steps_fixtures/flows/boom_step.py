config = {"type": "api", "name": "Boom", "method": "GET", "path": "/boom", "emits": []}


async def handler(req, context):
    raise RuntimeError("secret detail that must not leak")

config = {"type": "api", "name": "Sneaky", "method": "POST", "path": "/sneaky", "emits": ["tests.ping"]}


async def handler(req, context):
    await context.emit({"topic": "tests.not-listed", "data": {}})
    return {"status": 200, "body": {}}

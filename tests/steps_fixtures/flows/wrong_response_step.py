config = {
    "type": "api", "name": "WrongResponse", "method": "GET", "path": "/wrong-response", "emits": [],
    "responseSchema": {200: {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}},
}


def handler(req, context):
    return {"status": 200, "body": {"n": "not a number"}}

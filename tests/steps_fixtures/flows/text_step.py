config = {"type": "api", "name": "Text", "method": "GET", "path": "/text", "emits": []}


def handler(req, context):
    kind = req["queryParams"].get("kind")
    if kind == "bytes":
        return {"status": 200, "body": b"\x00\x01", "headers": {"content-type": "application/x-test"}}
    if kind == "bad":
        return {"body": "no status"}
    if kind == "notjson":
        return {"status": 200, "body": {"when": object()}}
    return {"status": 200, "body": "plain text"}

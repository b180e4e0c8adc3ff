config = {
    "type": "api", "name": "Private", "method": "GET", "path": "/private", "emits": [],
    "permission_classes": ["rest_framework.permissions.IsAuthenticated"],
}


def handler(req, context):
    return {"status": 200, "body": {"user": str(req["user"])}}

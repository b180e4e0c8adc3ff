"""GET /hostile/whoami: a sync API step for signed-in users only (DRF's SessionAuthentication), naming the user."""

config = {
    "type": "api", "name": "HostileWhoAmI", "method": "GET", "path": "/hostile/whoami", "emits": [],
    "permission_classes": ["rest_framework.permissions.IsAuthenticated"],
    "authentication_classes": ["rest_framework.authentication.SessionAuthentication"],
}


def handler(req, context):
    return {"status": 200, "body": {"user": req["user"].get_username()}}

"""POST /hostile/notes/:channelId: an async API step for signed-in users only (SessionAuthentication, so its CSRF
check too) that stores a chatMessage item in the channel."""

import uuid

config = {
    "type": "api", "name": "HostileNote", "method": "POST", "path": "/hostile/notes/:channelId", "emits": [],
    "permission_classes": ["rest_framework.permissions.IsAuthenticated"],
    "authentication_classes": ["rest_framework.authentication.SessionAuthentication"],
    "bodySchema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
}


async def handler(req, context):
    message_id = str(uuid.uuid4())
    item = await context.streams.chatMessage.set(req["pathParams"]["channelId"], message_id, {
        "id": message_id, "user_id": req["user"].get_username(), "message": req["body"]["message"],
        "timestamp": "2025-01-01T00:00:00Z",
    })
    return {"status": 201, "body": item}

# Motia's Python example of an API step (pure JSON Schema form), as written there plus a "flows" entry
# so the workbench draws it in the chat flow.
import uuid
from datetime import datetime

config = {
    "type": "api",
    "name": "CreateChatMessage",
    "method": "POST",
    "path": "/chat-messages",
    "flows": ["chat"],
    "bodySchema": {
        "type": "object",
        "properties": {
            "channel_id": {"type": "string"},
            "message": {"type": "string"}
        },
        "required": ["channel_id", "message"]
    },
    "emits": [],
    "responseSchema": {
        201: {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "user_id": {"type": "string"},
                "message": {"type": "string"},
                "timestamp": {"type": "string"}
            }
        }
    }
}

async def handler(req, context):
    body = req.get("body", {})
    channel_id = body.get("channel_id")
    message_text = body.get("message")

    message_id = str(uuid.uuid4())
    user_id = "example-user-id"

    # Creates a message in the stream
    chat_message = await context.streams.chatMessage.set(channel_id, message_id, {
        "id": message_id,
        "user_id": user_id,
        "message": message_text,
        "timestamp": datetime.now().isoformat()
    })

    return {"status": 201, "body": chat_message}

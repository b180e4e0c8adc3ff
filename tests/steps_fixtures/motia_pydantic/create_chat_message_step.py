# Motia's Python example of an API step (pydantic form), exactly as written.
# ruff: noqa: I001
import uuid
from datetime import datetime
from pydantic import BaseModel

class ChatMessageRequest(BaseModel):
    channel_id: str
    message: str

class ChatMessageResponse(BaseModel):
    id: str
    user_id: str
    message: str
    timestamp: str

config = {
    "type": "api",
    "name": "CreateChatMessage",
    "method": "POST",
    "path": "/chat-messages",
    "bodySchema": ChatMessageRequest.model_json_schema(),
    "emits": [],
    "responseSchema": {
        201: ChatMessageResponse.model_json_schema()
    }
}

async def handler(req, context):
    body = req.get("body", {})

    # Optional: Validate with Pydantic
    request_data = ChatMessageRequest(**body)
    channel_id = request_data.channel_id
    message_text = request_data.message

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

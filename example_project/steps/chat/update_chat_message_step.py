"""PUT /chat-messages/:channelId/:messageId: replace the message text, keep the other fields."""

from example_project.steps.chat.schemas import CHAT_MESSAGE, NOT_FOUND

config = {
    "type": "api",
    "name": "UpdateChatMessage",
    "description": "Edit a chat message",
    "method": "PUT",
    "path": "/chat-messages/:channelId/:messageId",
    "flows": ["chat"],
    "emits": [],
    "bodySchema": {
        "type": "object",
        "properties": {"message": {"type": "string"}},
        "required": ["message"],
    },
    "responseSchema": {200: CHAT_MESSAGE, 404: NOT_FOUND},
}


async def handler(req, context):
    channel_id = req["pathParams"]["channelId"]
    message_id = req["pathParams"]["messageId"]
    current = await context.streams.chatMessage.get(channel_id, message_id)
    if current is None:
        return {"status": 404, "body": {"error": f"message {message_id} not found in {channel_id}"}}
    item = await context.streams.chatMessage.set(channel_id, message_id, {
        **current,
        "message": req["body"]["message"],
    })
    return {"status": 200, "body": item}

"""DELETE /chat-messages/:channelId/:messageId: delete a message and return it."""

from example_project.steps.chat.schemas import CHAT_MESSAGE, NOT_FOUND

config = {
    "type": "api",
    "name": "DeleteChatMessage",
    "description": "Delete a chat message",
    "method": "DELETE",
    "path": "/chat-messages/:channelId/:messageId",
    "flows": ["chat"],
    "emits": [],
    "responseSchema": {200: CHAT_MESSAGE, 404: NOT_FOUND},
}


async def handler(req, context):
    channel_id = req["pathParams"]["channelId"]
    message_id = req["pathParams"]["messageId"]
    deleted = await context.streams.chatMessage.delete(channel_id, message_id)
    if deleted is None:
        return {"status": 404, "body": {"error": f"message {message_id} not found in {channel_id}"}}
    return {"status": 200, "body": deleted}

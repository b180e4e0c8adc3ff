"""GET /chat-messages/:channelId: the channel's messages, oldest first."""

from example_project.steps.chat.schemas import CHAT_MESSAGE

config = {
    "type": "api",
    "name": "ListChatMessages",
    "description": "The messages of a channel, in creation order",
    "method": "GET",
    "path": "/chat-messages/:channelId",
    "flows": ["chat"],
    "emits": [],
    "responseSchema": {200: {"type": "array", "items": CHAT_MESSAGE}},
}


async def handler(req, context):
    items = await context.streams.chatMessage.get_group(req["pathParams"]["channelId"])
    return {"status": 200, "body": items}

"""POST /chat-messages/:channelId/typing: an ephemeral "typing" event to the channel's subscribers."""

config = {
    "type": "api",
    "name": "ChatTyping",
    "description": "Tell the channel that a user is typing (nothing is stored)",
    "method": "POST",
    "path": "/chat-messages/:channelId/typing",
    "flows": ["chat"],
    "emits": [],
    "bodySchema": {
        "type": "object",
        "properties": {"user_id": {"type": "string"}},
        "required": ["user_id"],
    },
}


async def handler(req, context):
    event = {"type": "typing", "data": {"user_id": req["body"]["user_id"]}}
    await context.streams.chatMessage.send({"groupId": req["pathParams"]["channelId"]}, event)
    return {"status": 202, "body": event}

"""Motia's OpenAiApi step: create an empty reply item, emit the prompt, return the item (live in clients)."""

config = {
    "type": "api",
    "name": "OpenAiApi",
    "description": "Call OpenAI",
    "path": "/open-ai",
    "method": "POST",
    "emits": ["openai-prompt"],
    "flows": ["open-ai"],
    "bodySchema": {
        "type": "object",
        "properties": {"message": {"type": "string", "maxLength": 4000,
                                   "description": "The message to send to OpenAI (bounded: a reply costs work)"}},
        "required": ["message"],
    },
    "responseSchema": {
        200: {
            "type": "object",
            "properties": {"message": {"type": "string", "description": "The message from OpenAI"}},
            "required": ["message"],
        },
    },
}


async def handler(req, context):
    context.logger.info("[Call OpenAI] Received callOpenAi event", {"message": req["body"]["message"]})

    # This creates a record with empty message string to be populated in the next step
    result = await context.streams.openai.set(context.trace_id, "message", {"message": ""})

    await context.emit({
        "topic": "openai-prompt",
        "data": {"message": req["body"]["message"]},
    })

    return {"status": 200, "body": result}

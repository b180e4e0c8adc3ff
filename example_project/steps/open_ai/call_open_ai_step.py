"""Motia's CallOpenAi event step: stream the model's reply into the openai item, token by token."""

from example_project.steps.open_ai.llm import stream_reply

config = {
    "type": "event",
    "name": "CallOpenAi",
    "description": "Call OpenAI",
    "subscribes": ["openai-prompt"],
    "emits": [],
    "input": {
        "type": "object",
        "properties": {"message": {"type": "string", "maxLength": 4000,
                                   "description": "The message to send to OpenAI"}},
        "required": ["message"],
    },
    "flows": ["open-ai"],
    "timeout": 120,  # seconds: a reply that takes longer fails and is retried
}


async def handler(input, context):
    context.logger.info("[Call OpenAI] Received callOpenAi event", input)

    messages = []
    async for token in stream_reply(input["message"]):
        messages.append(token)
        # Now we're populating a previously created message with the streamed data
        await context.streams.openai.set(context.trace_id, "message", {"message": "".join(messages)})

    context.logger.info("[Call OpenAI] OpenAI response", {"message": "".join(messages)})

"""JSON Schemas shared by the chat steps (a plain module: only *_step.py files are steps)."""

from example_project.steps.streams.chat_messages_stream import config as _chat_stream

# The chatMessage stream's own schema: what the chat steps return is the stream item.
CHAT_MESSAGE = _chat_stream["schema"]

NOT_FOUND = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}

"""JSON Schemas shared by the chat steps (a plain module: only *_step.py files are steps)."""

CHAT_MESSAGE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "user_id": {"type": "string"},
        "message": {"type": "string"},
        "timestamp": {"type": "string"},
    },
    "required": ["id", "user_id", "message", "timestamp"],
}

NOT_FOUND = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}

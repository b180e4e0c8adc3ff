# Motia's chatMessage stream (the chat example), in the pure JSON Schema form.

config = {
    "name": "chatMessage",
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "user_id": {"type": "string"},
            "message": {"type": "string"},
            "timestamp": {"type": "string"},
        },
        "required": ["id", "user_id", "message", "timestamp"],
    },
    "baseConfig": {"storageType": "default"},
}

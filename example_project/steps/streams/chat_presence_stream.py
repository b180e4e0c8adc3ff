# Who is in a chat channel: joining a chatMessage group marks the user present in the chatPresence group of the
# same id (one item per user; the connection's id for anonymous sockets), gone when their last socket leaves.
import os

config = {
    "name": "chatPresence",
    "schema": {
        "type": "object",
        "properties": {"userId": {"type": "string"}, "joinedAt": {"type": "string"}},
        "required": ["userId"],
    },
    "presence": {"tracks": "chatMessage", "ttl": float(os.environ.get("PRESENCE_TTL_S", "30"))},
}

# A stream trigger on one item, any change.
config = {
    "type": "event",
    "name": "WatchItem",
    "triggers": [{"type": "stream", "streamName": "chatMessage", "itemId": "pinned"}],
    "emits": [],
    "flows": ["triggers"],
}


def handler(input, context):
    context.state.set("pinned", str(input["timestamp"]), input)

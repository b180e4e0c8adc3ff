# A stream trigger with every filter: group "watched" of chatMessage, and a condition (long messages, deletes).


def interesting(input):
    if input["event"]["type"] == "delete":
        return True
    if input["event"]["data"]["message"] == "boom":
        raise ValueError("a condition that raises")
    return len(input["event"]["data"]["message"]) > 3


config = {
    "type": "event",
    "name": "WatchRoom",
    "triggers": [{"type": "stream", "streamName": "chatMessage", "groupId": "watched", "condition": interesting}],
    "emits": [],
    "flows": ["triggers"],
}


def handler(input, context):
    context.state.set("watched", f"{input['id']}:{input['event']['type']}", input)

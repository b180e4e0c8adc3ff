"""Input is a pydantic model: bad input marks the event failed before the handler runs."""

from pydantic import BaseModel


class Order(BaseModel):
    order_id: str
    quantity: int


config = {"type": "event", "name": "Strict", "subscribes": ["tests.strict"], "emits": [], "input": Order}


async def handler(input, context):
    await context.state.set("orders", input["order_id"], input)

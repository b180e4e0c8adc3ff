# Motia's openai stream, in the pydantic form (the model class itself). Replies expire a day after their last
# token (OPENAI_REPLY_TTL_S): every request leaves a group behind otherwise.
import os

from pydantic import BaseModel, Field


class OpenAiMessage(BaseModel):
    message: str = Field(description="The reply so far, streamed token by token")


config = {
    "name": "openai",
    "schema": OpenAiMessage,
    "baseConfig": {"storageType": "default"},
    "ttl": float(os.environ.get("OPENAI_REPLY_TTL_S", "86400")),
}

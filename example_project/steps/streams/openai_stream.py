# Motia's openai stream, in the pydantic form (the model class itself).
from pydantic import BaseModel, Field


class OpenAiMessage(BaseModel):
    message: str = Field(description="The reply so far, streamed token by token")


config = {
    "name": "openai",
    "schema": OpenAiMessage,
    "baseConfig": {"storageType": "default"},
}

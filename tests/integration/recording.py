"""A stand-in for the pipeline's StagePublisher that keeps what a stage announces, so a
stage's tests can call its handler directly (the broker path is covered end to end)."""

from pydantic import BaseModel

from contracts import Stage


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[Stage, BaseModel]] = []
        self.message_ids: list[str] = []
        self.delayed: list[tuple[Stage, BaseModel, float]] = []

    async def send(self, stage: Stage, message: BaseModel, *, message_id: str) -> None:
        self.sent.append((stage, message))
        self.message_ids.append(message_id)

    async def send_later(self, stage: Stage, message: BaseModel, *, message_id: str,
                         delay: float) -> None:
        self.delayed.append((stage, message, delay))

"""Exchange, routing-key and queue names.

Every name derives from one prefix so that test runs (and several installations on one
broker) never see each other's messages.
"""

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    """A pipeline queue, named after the event its messages announce."""

    DISCOVERED = "discovered"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    STORED = "stored"


@dataclass(frozen=True)
class Topology:
    prefix: str = "intake"

    @property
    def exchange(self) -> str:
        """Durable direct exchange every pipeline message is published to."""
        return self.prefix

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.prefix}.dlx"

    def routing_key(self, stage: Stage) -> str:
        return f"file.{stage}"

    def queue(self, stage: Stage) -> str:
        return f"{self.prefix}.{stage}"

    def dead_letter_queue(self, stage: Stage) -> str:
        return f"{self.prefix}.{stage}.dlq"

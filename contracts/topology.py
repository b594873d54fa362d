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
    JOBS = "jobs"  # processing jobs requested (services/processor), not a file's stage


# Stages whose messages need the file's copy in a spool: they go to the consumers of that
# one spool (a queue per spool), where any replica anywhere takes the others.
SPOOLED = frozenset({Stage.DOWNLOADING, Stage.DOWNLOADED})


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

    def routing_key(self, stage: Stage, spool: str | None = None) -> str:
        """``file.<stage>``; for a spooled stage ``file.<stage>@<spool>``."""
        return f"file.{stage}" if _spooled(stage, spool) is None else f"file.{stage}@{spool}"

    def queue(self, stage: Stage, spool: str | None = None) -> str:
        """``<prefix>.<stage>``; for a spooled stage ``<prefix>.spool.<spool>.<stage>``."""
        if _spooled(stage, spool) is None:
            return f"{self.prefix}.{stage}"
        return f"{self.prefix}.spool.{spool}.{stage}"

    def retry_queue(self, stage: Stage, spool: str | None = None) -> str:
        return f"{self.queue(stage, spool)}.retry"

    def dead_letter_routing_key(self, stage: Stage) -> str:
        """A dead-lettered message's key: every spool's messages of a stage share one DLQ."""
        return f"file.{stage}"

    def dead_letter_queue(self, stage: Stage) -> str:
        return f"{self.prefix}.{stage}.dlq"


def _spooled(stage: Stage, spool: str | None) -> str | None:
    """``spool`` after checking that it is given exactly for the spooled stages."""
    if (stage in SPOOLED) != (spool is not None):
        raise ValueError(f"stage {stage} {'needs' if stage in SPOOLED else 'takes no'} spool")
    return spool

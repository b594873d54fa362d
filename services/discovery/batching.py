"""How a scan announces its new files: small ones together, in batches, large ones alone.

A batch is one message, one claim and one finish statement per stage for up to
``batch_max_files`` files (docs/performance.md, target 3); a file above
``batch_file_max_bytes`` gains nothing from company and travels on its own, as before.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from uuid import uuid4

from contracts import DiscoveredBatch, Stage
from infra.file_states import Discovered
from infra.outbox import Outgoing


@dataclass(frozen=True)
class Batching:
    max_files: int  # 1: every file alone
    max_bytes: int
    file_max_bytes: int

    def announce(self, server_id: int, created: Sequence[Discovered]) -> list[Outgoing]:
        """The messages of one listing batch's new files, for ``record_discovered``."""
        small = [new for new in created if new.size <= self.file_max_bytes]
        messages = [new.outgoing(server_id) for new in created
                    if new.size > self.file_max_bytes]
        for group in self._groups(small):
            if len(group) == 1:
                messages.append(group[0].outgoing(server_id))
                continue
            batch = DiscoveredBatch(batch_id=uuid4(), server_id=server_id,
                                    files=[new.message(server_id) for new in group])
            messages.append(Outgoing(Stage.DISCOVERED, batch,
                                     f"{batch.batch_id}:{Stage.DISCOVERED}"))
        return messages

    def _groups(self, files: Sequence[Discovered]) -> Iterator[list[Discovered]]:
        group: list[Discovered] = []
        held = 0
        for new in files:
            if group and (len(group) >= self.max_files or held + new.size > self.max_bytes):
                yield group
                group, held = [], 0
            group.append(new)
            held += new.size
        if group:
            yield group

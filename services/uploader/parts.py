"""Sending a spool file to a multipart upload, a few parts at a time, skipping the parts the
server already holds. Memory: at most ``PARALLEL_PARTS`` parts in flight plus the one
being read."""

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from infra.storage import PARALLEL_PARTS, ObjectStore, UploadedPart, part_size
from infra.transfer_progress import Meter
from services.uploader.spool_reader import SpoolFile


@dataclass(frozen=True)
class PartPlan:
    """How a file of ``size`` bytes is cut into parts: all ``part_size`` but the last."""

    size: int
    part_size: int

    @classmethod
    def for_size(cls, size: int) -> "PartPlan":
        return cls(size, part_size(size))

    @property
    def count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def span(self, number: int) -> tuple[int, int]:
        """(offset, length) of part ``number`` (1-based)."""
        offset = (number - 1) * self.part_size
        return offset, min(self.size - offset, self.part_size)

    def missing(self, stored: dict[int, UploadedPart]) -> list[int]:
        """Part numbers still to send: absent, or stored with another length."""
        return [n for n in range(1, self.count + 1)
                if n not in stored or stored[n].size != self.span(n)[1]]


def send_parts(objects: ObjectStore, key: str, upload_id: str, plan: PartPlan,
               spool: SpoolFile, stored: dict[int, UploadedPart], *,
               meter: Meter) -> list[UploadedPart]:
    """Upload every part that ``stored`` lacks, in order, as its bytes become readable,
    counting each sent part on ``meter``; returns all parts of the file. In a thread;
    raises the first failure."""
    parts = {n: p for n, p in stored.items() if n <= plan.count}
    missing = plan.missing(parts)
    meter.resumed(plan.size - sum(plan.span(n)[1] for n in missing))
    slots = threading.BoundedSemaphore(PARALLEL_PARTS)
    failures: list[BaseException] = []

    def sent(future: Future[UploadedPart]) -> None:
        slots.release()
        if (error := future.exception()) is not None:
            failures.append(error)
            return
        part = future.result()
        parts[part.number] = part
        meter.add(part.size)

    with ThreadPoolExecutor(PARALLEL_PARTS, thread_name_prefix="part-upload") as pool:
        for number in missing:
            data = spool.read(*plan.span(number))
            slots.acquire()
            if failures:
                slots.release()
                break
            pool.submit(objects.put_part, key, upload_id, number, data).add_done_callback(sent)
            del data  # only the upload holds the part now: freed as soon as it is sent
    if failures:
        raise failures[0]
    return [parts[n] for n in range(1, plan.count + 1)]

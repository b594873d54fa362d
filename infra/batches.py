"""A stage's first step with a message that carries one file, or a batch of them.

A file alone goes on alone. Of a batch, the files its stage finds too large to go with
their neighbours go on one by one, beside the rest, which go on together.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

File = TypeVar("File")
File_co = TypeVar("File_co", covariant=True)


class Batch(Protocol[File_co]):
    @property
    def files(self) -> Sequence[File_co]: ...


def _never(_: object) -> bool:
    return False


async def each_or_together(
    msg: File | Batch[File],
    one: type[File],
    *,
    alone: Callable[[File], Awaitable[None]],
    together: Callable[[Batch[File], list[File]], Awaitable[None]],
    too_large: Callable[[File], bool] = _never,
) -> None:
    """``alone`` for a message of type ``one`` and for each file ``too_large`` picks out of
    a batch, at the same time as ``together`` for the batch and the rest (when any)."""
    if isinstance(msg, one):
        await alone(msg)
        return
    rest = [file for file in msg.files if not too_large(file)]
    await asyncio.gather(*(alone(file) for file in msg.files if too_large(file)),
                         *([together(msg, rest)] if rest else []))

"""The names of the copies in the spool: ``<file_id>.part`` while a copy is written,
``<file_id>`` once it is complete and checked. The downloader writes them, the uploader
reads them, the janitor parses them back: this is the one place that spells them.
"""

from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

PARTIAL_SUFFIX = ".part"


@dataclass(frozen=True)
class Spool:
    """The spool directory (``INTAKE_SPOOL_DIR``) and the copies in it."""

    root: Path

    def partial(self, file_id: UUID | str) -> Path:
        """The copy being written; renamed to :meth:`complete` once checked."""
        return self.root / f"{file_id}{PARTIAL_SUFFIX}"

    def complete(self, file_id: UUID | str) -> Path:
        return self.root / str(file_id)

    @staticmethod
    def is_partial(path: Path) -> bool:
        return path.name.endswith(PARTIAL_SUFFIX)

    @staticmethod
    def file_id_of(path: Path) -> UUID | None:
        """The file a spool file belongs to; None for a name the spool did not give."""
        try:
            return UUID(path.name.removesuffix(PARTIAL_SUFFIX))
        except ValueError:
            return None

    def files(self) -> dict[Path, UUID]:
        """Every copy in the spool, with the file it belongs to. Blocks: run it in a thread."""
        return {path: file_id for path in self.root.iterdir()
                if path.is_file() and (file_id := self.file_id_of(path))}

    def ensure(self) -> None:
        """Create the spool directory if it is not there yet."""
        self.root.mkdir(parents=True, exist_ok=True)

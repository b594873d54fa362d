"""A server's post-fetch actions, done by its scan on the scan's own SFTP session: the due
files (stored or notified, their action pending, at most ``remote_actions_per_scan``) are
each looked at, then deleted or moved, one after the other, each outcome recorded at once
(infra/file_states/remote_actions.py).

A file whose size or mtime differ from its row's is another version than the one copied:
it is left alone. A failed action is due again later, with backoff; a lost session ends
the batch, and the files it did not reach are due again once their claim runs out.
"""

import asyncio
import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import paramiko

from infra import archive_paths
from infra.file_states import remote_actions
from infra.file_states.remote_actions import Backoff, DueAction
from infra.postgres import Pool
from infra.sftp import archiving
from infra.sftp.archiving import RemoteActionError
from infra.telemetry import StageMetrics
from services.discovery.settings import DiscoverySettings

log = logging.getLogger(__name__)

# What ends the session rather than one file's action.
_SESSION_LOST = (paramiko.SSHException, EOFError, TimeoutError, ConnectionError)


@dataclass
class _Archive:
    """A server's move settings, as its scan found them, and what one batch learnt of the
    server: the directories that exist, its absolute scanned directory."""

    template: str | None
    remote_dir: str
    recursive: bool
    made: set[str] = field(default_factory=set)
    scanned: str | None = None

    def directory(self, client: paramiko.SFTPClient, file: DueAction) -> str:
        if self.template is None:
            raise RemoteActionError("the server has no archive directory to move files into")
        try:
            directory = archive_paths.archive_directory(self.template, self.remote_dir,
                                                        file.stored_at)
        except ValueError as exc:
            raise RemoteActionError(f"archive directory {self.template!r} {exc}") from exc
        # A relative archive lies strictly under remote_dir, which the servers table refuses
        # for a recursive scan; an absolute one is compared as the server resolves remote_dir.
        if archive_paths.is_absolute(directory):
            if self.scanned is None:
                self.scanned = archiving.absolute(client, self.remote_dir)
            if directory == self.scanned:
                raise RemoteActionError(
                    f"the archive directory {directory} is the scanned directory"
                    f" {self.remote_dir}: moved files would be found again")
            if self.recursive and archive_paths.inside(directory, self.scanned):
                raise RemoteActionError(
                    f"the archive directory {directory} is inside {self.remote_dir}, which"
                    " is scanned with its subdirectories: moved files would be found again")
        return directory


@dataclass(frozen=True)
class _Outcome:
    event: str  # remote_deleted, remote_moved, remote_changed or remote_action_failed
    to: str | None = None  # where a moved file went
    seen: dict[str, Any] | None = None  # what a changed file looks like now
    error: str | None = None


def _act(client: paramiko.SFTPClient, archive: _Archive, file: DueAction) -> _Outcome:
    """Look at the file, then delete or move it (blocking: run in a thread)."""
    path = file.remote_path
    try:
        seen = archiving.look(client, path)
        if seen is None:
            return _Outcome("remote_action_failed", error=f"{path} is no longer on the server")
        if not seen.regular or (seen.size, seen.mtime) != (file.size, file.remote_mtime):
            return _Outcome("remote_changed", seen=seen._asdict())
        if file.remote_action == "delete":
            archiving.delete(client, path)
            return _Outcome("remote_deleted")
        to = archiving.move(client, path, archive.directory(client, file), made=archive.made)
        return _Outcome("remote_moved", to=to)
    except RemoteActionError as exc:
        return _Outcome("remote_action_failed", error=str(exc))


class PostFetch:
    def __init__(self, settings: DiscoverySettings, pool: Pool, metrics: StageMetrics,
                 threads: Executor | None = None) -> None:
        self._settings = settings
        self._pool = pool
        self._metrics = metrics
        self._threads = threads  # the scan's: a stalled partner holds none of the loop's
        self._backoff = Backoff(settings.remote_action_retry_seconds,
                                settings.remote_action_retry_max_seconds,
                                settings.remote_action_max_attempts)

    async def run(self, server: dict[str, Any], client: paramiko.SFTPClient) -> int:
        """Do the server's due actions; how many were done (deleted or moved). Never raises:
        what failed is recorded, or due again later."""
        try:
            return await self._run(server, client)
        except Exception:
            log.warning("post-fetch actions of %s stopped", server["name"], exc_info=True,
                        extra={"server": server["name"]})
            return 0

    async def _run(self, server: dict[str, Any], client: paramiko.SFTPClient) -> int:
        due = await remote_actions.claim_due(
            self._pool, server["id"], limit=self._settings.remote_actions_per_scan,
            lease_seconds=self._settings.scan_lease_seconds)
        archive = _Archive(server["archive_dir"], server["remote_dir"], server["recursive"])
        done = 0
        for file in due:
            try:
                outcome = await asyncio.get_running_loop().run_in_executor(
                    self._threads, _act, client, archive, file)
            except _SESSION_LOST as exc:
                await self._record(file, _Outcome("remote_action_failed",
                                                  error=f"the session was lost: {exc}"))
                log.warning("post-fetch actions of %s stopped: the session was lost",
                            server["name"], extra={"server": server["name"]})
                break
            await self._record(file, outcome)
            done += outcome.event in ("remote_deleted", "remote_moved")
        return done

    async def _record(self, file: DueAction, outcome: _Outcome) -> None:
        path, action = file.remote_path, file.remote_action
        match outcome.event:
            case "remote_deleted":
                await remote_actions.deleted(self._pool, file.id, path=path)
            case "remote_moved":
                assert outcome.to is not None
                await remote_actions.moved(self._pool, file.id, path=path, to=outcome.to)
            case "remote_changed":
                await remote_actions.changed(self._pool, file.id, path=path, action=action,
                                             seen=outcome.seen or {})
            case _:
                await remote_actions.failed(self._pool, file.id, path=path, action=action,
                                            error=outcome.error or "failed",
                                            backoff=self._backoff)
        self._metrics.transitions.labels(outcome.event).inc()

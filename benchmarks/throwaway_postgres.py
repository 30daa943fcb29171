"""A private Postgres server in a temporary folder, to stop and start at will (never a shared one)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Self

from benchmarks.service_latency import free_port

SERVER_USER = "postgres"  # initdb refuses root: as root, the server runs as this user


def _bin(tool: str) -> str:
    """A Postgres server program: on PATH, in `pg_config --bindir`, or Debian's newest /usr/lib/postgresql/N/bin."""
    if on_path := shutil.which(tool):
        return on_path
    if pg_config := shutil.which("pg_config"):
        bindir = subprocess.run([pg_config, "--bindir"], check=False, capture_output=True, text=True).stdout.strip()
        if (Path(bindir) / tool).exists():
            return str(Path(bindir) / tool)
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise FileNotFoundError(f"no {tool} on PATH, in pg_config --bindir or under /usr/lib/postgresql/*/bin: "
                                "install the Postgres server programs (Debian: postgresql)")
    return found[-1]


class ThrowawayPostgres:
    """initdb into a temporary folder, a server on a free port of 127.0.0.1 (trust auth), removed on close.

    `url` is a SQLAlchemy URL of its database `facever`; `stop()` and `start()` take the server down and up."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="facever-pg-"))
        self.data, self.port = self.folder / "data", free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/facever"
        if os.geteuid() == 0:
            shutil.chown(self.folder, SERVER_USER)
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        self.start()
        self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "facever")

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, cwd=self.folder)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-o", options,
                  "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every session (an outage as clients see it), `immediate` is a crash."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:  # already stopped
            pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

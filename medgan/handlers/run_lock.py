"""One training run per output folder: an advisory lock file that names its holder.

:class:`RunLock` takes an exclusive ``fcntl.flock`` on ``<ckpt_dir>/.lock`` and writes who holds it (process id,
host, start time). The operating system releases it when the process ends, however it ends (a SIGKILL included),
so a stale file never blocks a later run; a second process started on the same folder while the first runs stops
with one sentence naming the first. Runs one after another in one process (tests, notebooks) share the lock.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import socket
from pathlib import Path
from typing import IO

from medgan.errors import BadInputError

LOCK_NAME = ".lock"
_HELD: dict[Path, IO[str]] = {}  # the locks this process holds, by lock file


class RunLock:
    """The lock of the run in ``folder`` (see module docstring)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = (Path(folder) / LOCK_NAME).absolute()

    def acquire(self) -> None:
        """Hold the lock, or raise BadInputError naming the process that holds it."""
        if self.path in _HELD:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            file.close()
            raise BadInputError(
                f"{self.path.parent.parent} is in use by another training run ({holder}); wait for it to finish "
                "or set --output_dir to another folder."
            ) from None
        file.seek(0)
        file.truncate()
        started = datetime.datetime.now().isoformat(timespec="seconds")
        file.write(f"process {os.getpid()} on {socket.gethostname()}, started {started}\n")
        file.flush()
        _HELD[self.path] = file

    def release(self) -> None:
        """Give the lock up (the file stays; it is only a lock while a process holds it)."""
        file = _HELD.pop(self.path, None)
        if file is not None:
            fcntl.flock(file, fcntl.LOCK_UN)
            file.close()

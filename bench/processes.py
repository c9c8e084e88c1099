"""Running one command as a child process and reading the kernel's account of it.

``os.wait4`` returns the CPU seconds (user and system, every thread) of exactly that
child, so the figures are the client's alone: DynamoDB Local, the harness and other
children are not in them. Peak memory is the child's ``VmHWM`` (its resident high-water
mark) from ``/proc``, polled until it exits: ``ru_maxrss`` cannot be used, because Linux
carries the parent's high-water mark into a forked child across ``exec``, so every child
of a large harness would report the harness's size.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

STDERR_TAIL_CHARS = 2_000
HWM_POLL_SECONDS = 0.02
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ChildFailedError(RuntimeError):
    """A measured command exited non-zero or was killed at its time limit."""


@dataclass(frozen=True)
class ProcessSample:
    """One finished child: its wall time from spawn to exit and the kernel's rusage."""

    command: tuple[str, ...]
    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_kib: int
    stdout: str
    stderr_tail: str

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def run_measured(
    command: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    timeout_s: float,
    check: bool = True,
) -> ProcessSample:
    """Run ``command`` to completion; stdout and stderr go to temporary files (no pipe
    can fill up and stall the child). Raises :class:`ChildFailedError` on a non-zero exit
    when ``check`` is set, or when the time limit killed it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=out, stderr=err, env=dict(env), cwd=cwd)
        timer = threading.Timer(timeout_s, process.kill)
        timer.start()
        watcher = _HighWaterMark(process.pid)
        watcher.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
            watcher.stop()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr_tail = err.read().decode(errors="replace")[-STDERR_TAIL_CHARS:]
    sample = ProcessSample(
        command=tuple(command),
        returncode=process.returncode,
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        peak_rss_kib=watcher.peak_kib,
        stdout=stdout,
        stderr_tail=stderr_tail,
    )
    if wall >= timeout_s:
        raise ChildFailedError(f"{command[0]} was killed after {timeout_s:.0f} s")
    if check and sample.returncode != 0:
        raise ChildFailedError(
            f"{' '.join(command)} exited {sample.returncode}: {sample.stderr_tail[-500:]}"
        )
    return sample


class _HighWaterMark(threading.Thread):
    """Polls a process's VmHWM until told to stop; the last reading is its peak so far."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._path = Path(f"/proc/{pid}/status")
        self._stopped = threading.Event()
        self.peak_kib = 0

    def run(self) -> None:
        while not self._stopped.is_set():
            self._read()
            self._stopped.wait(HWM_POLL_SECONDS)

    def _read(self) -> None:
        try:
            text = self._path.read_text()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                return

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a running process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

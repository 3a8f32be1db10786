"""One progress display for a whole grid: runs done / total, the current runs, an ETA.

On a terminal a status line is redrawn in place and each finished run is printed above it; when
stdout is not a terminal (a log file, CI, a Slurm output file) it prints one line per finished run.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class GridDisplay:
    """``started(name)`` / ``finished(name, seconds)`` / ``skipped(name)`` / ``failed(name, why)``.

    ETA = mean wall time per executed run x runs left / concurrent runs (a rough figure while the
    first runs are still going; skipped runs do not count).
    """

    def __init__(self, total: int, concurrency: int = 1, *, live: bool | None = None,
                 log: Callable[[str], None] | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.log = log or (lambda msg: print(msg, file=self.stream, flush=True))
        self.total, self.concurrency = total, max(1, concurrency)
        self.finished_count, self.executed_seconds, self.executed = 0, 0.0, 0
        self.running: dict[str, float] = {}
        self.start = time.perf_counter()

    def eta(self) -> float | None:
        left = self.total - self.finished_count
        if not self.executed or not left:
            return None
        return self.executed_seconds / self.executed * left / self.concurrency

    def status(self) -> str:
        eta = self.eta()
        names = ", ".join(self.running) or "-"
        return (f"grid {self.finished_count}/{self.total} done | running: {names} | "
                f"elapsed {_duration(time.perf_counter() - self.start)}"
                + (f" | ETA {_duration(eta)}" if eta is not None else ""))

    def _print(self, msg: str) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")  # clear the status line, print above it
        self.log(msg)
        self.refresh()

    def refresh(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K" + self.status()[: 200])
            self.stream.flush()

    def started(self, name: str) -> None:
        self.running[name] = time.perf_counter()
        self.refresh()

    def finished(self, name: str, seconds: float) -> None:
        self.running.pop(name, None)
        self.finished_count += 1
        self.executed += 1
        self.executed_seconds += seconds
        eta = self.eta()
        self._print(f"[{self.finished_count}/{self.total}] {name}: done in {seconds:.1f} s"
                    + (f" (ETA {_duration(eta)})" if eta is not None else ""))

    def skipped(self, name: str) -> None:
        self.finished_count += 1
        self._print(f"[{self.finished_count}/{self.total}] {name}: complete, skipped")

    def failed(self, name: str, why: str) -> None:
        self.running.pop(name, None)
        self.finished_count += 1
        self._print(f"[{self.finished_count}/{self.total}] {name}: FAILED ({why})")

    def close(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

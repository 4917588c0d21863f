"""The rebuild's progress line: pages, pages/s, share of the archive read, ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from pipelines.archive import ArchiveReader


class Progress:
    """One line on stderr: pages, pages/s, share of the archive read, ETA. Silent when disabled."""

    def __init__(self, reader: ArchiveReader, enabled: bool, stream: TextIO | None = None) -> None:
        self.reader = reader
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = self.enabled and self.stream.isatty()
        self.started = time.monotonic()
        self.last = 0.0
        self.interval = 0.25 if self.tty else 10.0

    def update(self, pages: int, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last < self.interval:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        line = f"rebuild: {pages} pages, {pages / elapsed:.1f} pages/s"
        total = self.reader.bytes_total
        if total and not final:
            share = min(self.reader.bytes_done / total, 1.0)
            line += f", {share:.0%} of the archive read"
            if share > 0.01:
                line += f", ETA {_clock(elapsed * (1 - share) / share)}"
        elif final:
            line += f", done in {_clock(elapsed)}"
        if self.tty:
            self.stream.write("\r" + line.ljust(78) + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

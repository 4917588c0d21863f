"""Who is writing a dataset: leases of live writers and the compaction marker, in ``DIR/.leases``.

Why: several crawls (plain, or Redis workers on several machines), rebuilds and
compactions may touch one dataset, on local disk or on object storage, where no
lock is shared. Each of them writes a small JSON lease under a name of its own
(``DIR/.leases/<kind>-<run>-<token>.json``: pid, host, start, run) and rewrites
it every :data:`RENEW_SECONDS` from a background thread; a lease not renewed for
:data:`LEASE_SECONDS` is dead (a killed process, a lost machine), and on the
writer's own host a lease whose process has gone is dead at once.

The protocol (each side writes its own lease first, then reads the others':
with a store that reads its own writes and lists them, as local disks and S3
do, two parties can never both miss each other):

* a compaction takes its marker, then refuses while another compaction or a
  live writer holds a lease (``--wait`` waits with no marker held; ``--force``
  goes on);
* a writer takes its lease at start, and before every publish waits while a
  live compaction marker exists, so nothing is published under a compaction;
* a plain crawl refuses to start while another crawl holds a lease, and a
  Redis-mode worker refuses a plain crawl's dataset (Redis workers share one).

Compaction never deletes a file it has not read (see :mod:`pipelines.compact`),
so the leases keep runs apart; the no-loss guarantee does not rest on clocks.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyarrow import fs as pafs

from pipelines import layout
from pipelines.procs import pid_alive

logger = logging.getLogger(__name__)

LEASES_DIR = ".leases"
LEASE_SECONDS = 60.0
"""A lease not renewed this long is dead (its writer was killed, or its machine is gone)."""
RENEW_SECONDS = 10.0
POLL_SECONDS = 0.5
KINDS = ("crawl", "rebuild", "compact")


class LeaseConflict(RuntimeError):
    """Another run holds the dataset in a way this run must not share (one line, names the other run)."""


@dataclass(frozen=True)
class Lease:
    """One lease as read back from ``DIR/.leases``."""

    path: str
    kind: str
    mode: str
    run_id: str
    worker_id: str | None
    pid: int
    host: str
    process_start: str | None
    started_at: str
    renewed_at: float
    ttl_seconds: float

    def age(self, now: float | None = None) -> float:
        """Seconds since the last renewal."""
        return max(0.0, (time.time() if now is None else now) - self.renewed_at)

    def is_alive(self, now: float | None = None) -> bool:
        """Renewed within its ttl, and (on this host) its process still exists."""
        if self.host == socket.gethostname() and not _process_alive(self.pid, self.process_start):
            return False
        return self.age(now) < self.ttl_seconds

    def describe(self) -> str:
        mode = f" ({self.mode})" if self.kind == "crawl" else ""
        worker = f" worker {self.worker_id}" if self.worker_id else ""
        return (f"{self.kind}{mode} {self.run_id}{worker} (pid {self.pid} on {self.host}, started {self.started_at}, "
                f"lease renewed {self.age():.0f} s ago)")


def _process_start(pid: int) -> str | None:
    """The start time of a process (Linux clock ticks): a reused pid is not the same process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _process_alive(pid: int, start: str | None) -> bool:
    """Alive, and the same process that took the lease (a pid is reused after a reboot)."""
    if not pid_alive(pid):
        return False
    current = _process_start(pid)
    return start is None or current is None or current == start


def lease_folder(root: str) -> tuple[pafs.FileSystem, str]:
    filesystem, base = layout.open_filesystem(root)
    return filesystem, f"{base}/{LEASES_DIR}"


def read_leases(root: str, kinds: tuple[str, ...] = KINDS) -> list[Lease]:
    """Every readable lease of ``root`` of the given kinds (a lease removed meanwhile is skipped)."""
    filesystem, folder = lease_folder(root)
    found = []
    for info in filesystem.get_file_info(pafs.FileSelector(folder, allow_not_found=True)):
        if info.type != pafs.FileType.File or not info.base_name.endswith(".json"):
            continue
        if not info.base_name.startswith(tuple(f"{k}-" for k in kinds)):
            continue
        try:
            with filesystem.open_input_stream(info.path) as handle:
                data = json.loads(handle.read(65536))
            found.append(Lease(path=info.path, **{k: data.get(k) for k in Lease.__dataclass_fields__ if k != "path"}))
        except (OSError, ValueError, TypeError):
            continue  # being replaced, or removed: its next renewal is read next time
    return found


def remove_dead(root: str, leases: list[Lease]) -> list[Lease]:
    """Delete the dead among ``leases`` (saying whose and how old); returns the live ones."""
    filesystem, _ = lease_folder(root)
    live = []
    for lease in leases:
        if lease.is_alive():
            live.append(lease)
            continue
        logger.warning("Removing the lease of %s: that run is dead (last renewed %.0f s ago)", lease.describe(), lease.age())
        try:
            filesystem.delete_file(lease.path)
        except OSError:
            pass
    return live


class HeldLease:
    """A lease this process holds: written now, renewed by a daemon thread, removed by :meth:`release`."""

    def __init__(self, root: str, kind: str, run_id: str, *, worker_id: str | None = None, mode: str = "",
                 ttl_seconds: float = LEASE_SECONDS, renew_seconds: float = RENEW_SECONDS) -> None:
        if kind not in KINDS:
            raise ValueError(f"lease kind must be one of {KINDS}, got {kind!r}")
        self.root = root
        self.filesystem, self.folder = lease_folder(root)
        worker = f"-{worker_id}" if worker_id else ""
        self.path = f"{self.folder}/{kind}-{layout.check_name(run_id, 'run id')}{worker}-{secrets.token_hex(4)}.json"
        self.record = {
            "kind": kind, "mode": mode, "run_id": run_id, "worker_id": worker_id, "pid": os.getpid(),
            "host": socket.gethostname(), "process_start": _process_start(os.getpid()),
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "renewed_at": 0.0, "ttl_seconds": ttl_seconds,
        }  # fmt: skip
        self.renew_seconds = renew_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renew()

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    def renew(self) -> None:
        """Write the lease again with the time now (OSError if the dataset cannot be written)."""
        self.record["renewed_at"] = time.time()
        data = json.dumps(self.record).encode()
        self.filesystem.create_dir(self.folder, recursive=True)
        if layout.is_local(self.filesystem):  # a reader never sees half a lease
            temp = Path(self.folder) / f".{self.name}.tmp"
            temp.write_bytes(data)
            os.replace(temp, self.path)
        else:  # an object appears whole
            with self.filesystem.open_output_stream(self.path, compression=None) as out:
                out.write(data)

    def start_renewing(self) -> HeldLease:
        if self._thread is None:
            self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{self.name}", daemon=True)
            self._thread.start()
            atexit.register(self.release)  # a run stopped without its close (a second Ctrl-C) still lets go
        return self

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renew_seconds):
            try:
                self.renew()
            except OSError as exc:  # the next renewal may succeed; others see the age meanwhile
                logger.warning("Cannot renew the lease %s: %s", self.path, exc)

    def others(self, kinds: tuple[str, ...] = KINDS) -> list[Lease]:
        """The live leases of other runs or processes (dead ones are removed)."""
        return remove_dead(self.root, [lease for lease in read_leases(self.root, kinds) if lease.path != self.path])

    def release(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        try:
            self.filesystem.delete_file(self.path)
        except OSError:
            pass

    def __enter__(self) -> HeldLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


SHARE_HINT = "two plain crawls would store every article twice; crawls share a dataset in Redis mode (REDIS_URL)"


def acquire_writer(root: str, kind: str, run_id: str, *, worker_id: str | None = None, mode: str = "plain",
                   renewing: bool = True, **options: float) -> HeldLease:
    """Take a writer's lease on the dataset ``root`` (and keep renewing it).

    ``mode`` is ``plain`` or ``redis`` for crawls. A plain crawl refuses while another crawl
    writes; a Redis worker refuses while a plain crawl writes: LeaseConflict, naming that run.
    Rebuilds add files like any run and share with everyone. OSError if the lease cannot be written.
    ``renewing=False``: the caller calls :meth:`HeldLease.start_renewing` within the lease's
    time to live (a rebuild forks its workers first, while it has no other thread).
    """
    lease = HeldLease(root, kind, run_id, worker_id=worker_id, mode=mode, **options)
    if kind == "crawl":
        crawls = lease.others(("crawl",))
        clash = [c for c in crawls if mode == "plain" or c.mode == "plain"]
        if clash:
            lease.release()
            raise LeaseConflict(f"{root} is being written by {clash[0].describe()}; {SHARE_HINT}")
    return lease.start_renewing() if renewing else lease


def acquire_compaction(root: str, compaction_id: str, *, force: bool = False, wait_seconds: float = 0.0,
                       sleep: Callable[[float], None] = time.sleep, ttl_seconds: float = LEASE_SECONDS,
                       renew_seconds: float = RENEW_SECONDS) -> HeldLease:
    """Take the compaction marker of ``root``: refuses (LeaseConflict) while another compaction runs, or
    while writers hold live leases unless ``force``; with ``wait_seconds`` it first waits for them,
    holding no marker meanwhile (a writer waiting to publish would otherwise wait for us in turn)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        lease = HeldLease(root, "compact", compaction_id, ttl_seconds=ttl_seconds, renew_seconds=renew_seconds)
        others = lease.others()
        compactions = [o for o in others if o.kind == "compact"]
        writers = [o for o in others if o.kind != "compact"]
        if not compactions and (force or not writers):
            if writers:
                logger.warning("Compacting with --force while %d writers hold leases (they wait to publish): %s",
                               len(writers), "; ".join(w.describe() for w in writers))
            return lease.start_renewing()
        lease.release()
        if time.monotonic() >= deadline:
            if compactions:
                raise LeaseConflict(f"another compaction of {root} is running: {compactions[0].describe()}")
            w = writers[0]
            raise LeaseConflict(
                f"{root} is being written by {w.describe()}" + (f" and {len(writers) - 1} more" if len(writers) > 1 else "")
                + f"; compact when it has finished (--wait SECONDS), or with --force if that run is dead "
                f"(its lease would expire {max(0.0, w.ttl_seconds - w.age()):.0f} s from now)"
            )
        sleep(POLL_SECONDS)


def wait_while_compacting(root: str, *, sleep: Callable[[float], None] = time.sleep) -> float:
    """Block while a live compaction marker exists on ``root``; returns the seconds waited.

    Called before every publish: a compaction that started after this writer took its lease
    (and so did not see it) finishes before this writer adds files."""
    waited = 0.0
    said = False
    while True:
        live = remove_dead(root, read_leases(root, ("compact",)))
        if not live:
            return waited
        if not said:
            logger.info("Waiting for %s to finish before publishing files", live[0].describe())
            said = True
        sleep(POLL_SECONDS)
        waited += POLL_SECONDS

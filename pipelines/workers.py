"""What every worker process needs, whoever starts it (:mod:`pipelines.pool`).

jieba segmentation is CPU-bound and holds the GIL; done in the crawl process it
would stall the reactor (and so every download). The crawl's pipeline and the
offline rebuild both process pages in such processes (:mod:`pipelines.pool`),
which load the segmenter once, before their first page (a rebuild's, forked
from it, start with its segmenter).

Workers watch the process that started them (:func:`watch_parent`): when the
crawl or rebuild dies (SIGKILL, the OOM killer) nothing else would end them,
and they (and a crawl's resource tracker) would stay.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
from collections.abc import Callable, Iterator

from pipelines.process import Analyser
from pipelines.procs import pid_alive
from pipelines.segment import SegmentConfig, get_segmenter

PARENT_POLL_SECONDS = 1.0
"""How often a worker checks its parent where the kernel cannot tell it (no pidfd)."""


def make_analyser(config: SegmentConfig | None) -> Analyser | None:
    """The process's segmenter for ``config`` (None: segmentation off)."""
    return get_segmenter(config) if config is not None else None


def _exit_now() -> None:
    os._exit(1)


def watch_parent(pid: int, on_death: Callable[[], None] = _exit_now) -> threading.Thread:
    """Call ``on_death`` (default: exit at once) in a daemon thread when process ``pid`` ends.

    Linux: a pidfd becomes readable when the process exits (no polling, no pid
    reuse race). Elsewhere, or without permission: ``os.kill(pid, 0)`` once a second.
    """

    def wait_for_exit() -> None:
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            on_death()  # already gone
            return
        except (AttributeError, OSError):
            pidfd = None
        if pidfd is not None:
            select.select([pidfd], [], [])
            os.close(pidfd)
        else:
            while pid_alive(pid):
                threading.Event().wait(PARENT_POLL_SECONDS)
        on_death()

    watcher = threading.Thread(target=wait_for_exit, name=f"watch-parent-{pid}", daemon=True)
    watcher.start()
    return watcher


def peak_rss_kb() -> int:
    """This process's peak resident memory in KiB.

    Linux's VmHWM belongs to the address space, which ``exec`` replaces;
    ``ru_maxrss`` survives ``exec``, so a process started by a big parent would
    report the parent's size instead of its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@contextlib.contextmanager
def main_module_not_inherited() -> Iterator[None]:
    """Start processes (spawn or forkserver) that do not run the parent's ``__main__`` again.

    multiprocessing re-imports the parent's main script in every such child, as
    ``__mp_main__``. Under the ``scrapy`` command that script imports Scrapy and
    Twisted: 48 MB and 0.4 s per worker, for nothing, since every worker target
    here lives in an importable module. The child decides from ``__main__``'s
    ``__spec__`` and ``__file__`` when the process starts; they are restored after.
    """
    main = sys.modules["__main__"]
    saved: dict[str, object] = {name: main.__dict__[name] for name in ("__spec__", "__file__") if name in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)

"""Processes: whether one is alive (the worker watchdog, the dataset leases), and how many CPUs
this one may keep busy (how many worker processes to start)."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists (a process of another user counts: signalling it is refused, not failed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def usable_cpus(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """The CPUs this process can keep busy: its affinity mask, capped by a cgroup CPU quota.

    ``os.cpu_count()`` counts the machine's. In a container given 2 CPUs (``docker --cpus 2``, a
    Kubernetes limit) on a 64-core host, one worker per core would be 64 processes, each loading
    its own dictionaries and holding its own memory, taking turns on 2 CPUs' worth of time.
    A quota of 1.5 CPUs counts as 2: the half CPU is still worth a worker.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root, proc_cgroup)
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)


def cgroup_cpu_limit(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The tightest CPU quota, in CPUs, of this process's cgroup and its ancestors (v2 ``cpu.max``,
    v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``); None when there is none or it cannot be read.

    Inside a container the cgroup's path in ``/proc/self/cgroup`` may not exist under the mount
    (the container sees its own cgroup as the root): the folders that do exist, up to the root,
    are read."""
    try:
        entries = proc_cgroup.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for entry in entries:
        fields = entry.split(":", 2)  # hierarchy id : controllers : path
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if controllers == "":  # cgroup v2
            mounts, read = [cgroup_root], _v2_limit
        elif "cpu" in controllers.split(","):  # cgroup v1; its folder is named after one or all its controllers
            mounts, read = [cgroup_root / "cpu", cgroup_root / controllers], _v1_limit
        else:
            continue
        parts = [p for p in path.split("/") if p]
        for mount in dict.fromkeys(mounts):
            for depth in range(len(parts), -1, -1):
                limit = read(mount.joinpath(*parts[:depth]))
                if limit is not None:
                    limits.append(limit)
    return min(limits) if limits else None


def _v2_limit(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text(encoding="ascii").split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def _v1_limit(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text(encoding="ascii"))
        period = int((folder / "cpu.cfs_period_us").read_text(encoding="ascii"))
        return None if quota <= 0 else quota / period
    except (OSError, ValueError, ZeroDivisionError):
        return None

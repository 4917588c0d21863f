"""How many CPUs a run may use: the affinity mask, capped by the cgroup CPU quota a container sets."""

from __future__ import annotations

import math
import os
from pathlib import Path

from pipelines.procs import cgroup_cpu_limit, usable_cpus

AFFINITY = len(os.sched_getaffinity(0))


def _tree(root: Path, files: dict[str, str], cgroup: str) -> tuple[Path, Path]:
    """A cgroup mount under ``root`` holding ``files``, and a /proc/self/cgroup naming ``cgroup``."""
    for name, text in files.items():
        path = root / "sys" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="ascii")
    proc = root / "cgroup"
    proc.write_text(cgroup, encoding="ascii")
    return root / "sys", proc


def test_v2_quota_of_the_own_cgroup_or_an_ancestor_caps_the_cpus(tmp_path: Path) -> None:
    mount, proc = _tree(tmp_path, {"cpu.max": "max 100000\n", "app.slice/cpu.max": "150000 100000\n",
                                   "app.slice/run.scope/cpu.max": "max 100000\n"}, "0::/app.slice/run.scope\n")
    assert cgroup_cpu_limit(mount, proc) == 1.5
    assert usable_cpus(mount, proc) == min(AFFINITY, 2)  # 1.5 CPUs: the half is still worth a worker


def test_container_sees_its_own_cgroup_as_the_root(tmp_path: Path) -> None:
    # Without a cgroup namespace /proc/self/cgroup names the host's path, which the container's mount lacks.
    mount, proc = _tree(tmp_path, {"cpu.max": "100000 100000\n"}, "0::/docker/0123abcd\n")
    assert cgroup_cpu_limit(mount, proc) == 1.0
    assert usable_cpus(mount, proc) == 1


def test_v1_quota_is_read_from_the_cpu_hierarchy(tmp_path: Path) -> None:
    mount, proc = _tree(
        tmp_path,
        {"cpu,cpuacct/cpu.cfs_quota_us": "50000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
         "memory/memory.limit_in_bytes": "1073741824\n"},
        "12:memory:/job\n4:cpu,cpuacct:/\n0::/\n",
    )
    assert cgroup_cpu_limit(mount, proc) == 0.5
    assert usable_cpus(mount, proc) == 1


def test_no_quota_leaves_the_affinity_mask(tmp_path: Path) -> None:
    unlimited = _tree(tmp_path / "a", {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n",
                                       "cpu.max": "max 100000\n"}, "3:cpu:/\n0::/\n")
    assert cgroup_cpu_limit(*unlimited) is None
    assert usable_cpus(*unlimited) == AFFINITY
    unreadable = (tmp_path / "none", tmp_path / "none" / "cgroup")  # not Linux, or /proc not mounted
    assert cgroup_cpu_limit(*unreadable) is None
    assert usable_cpus(*unreadable) == AFFINITY
    garbled = _tree(tmp_path / "g", {"cpu.max": "lots\n"}, "not a cgroup line\n0::/\n")
    assert cgroup_cpu_limit(*garbled) is None


def test_this_machine() -> None:
    limit = cgroup_cpu_limit()
    expected = AFFINITY if limit is None else max(1, min(AFFINITY, math.ceil(limit)))
    assert usable_cpus() == expected >= 1

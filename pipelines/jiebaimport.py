"""jieba, imported without ``pkg_resources``: import it from here (``from pipelines.jiebaimport import jieba``).

jieba 0.42.1's ``_compat`` imports setuptools' ``pkg_resources`` (70-100 ms, deprecated)
only to open its own ``dict.txt``, and opens the file directly when that import fails.
Every crawl, rebuild and worker process imports jieba, so it is imported here with
``pkg_resources`` hidden for that one import; anyone may import ``pkg_resources`` afterwards.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any


class _HidePkgResources(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pkg_resources" or name.startswith("pkg_resources."):
            raise ImportError("pkg_resources is not needed to import jieba")
        return None


_hidden = _HidePkgResources()
if "jieba" not in sys.modules and "pkg_resources" not in sys.modules:
    sys.meta_path.insert(0, _hidden)
try:
    import jieba  # noqa: E402
    import jieba.finalseg  # noqa: E402
finally:
    if _hidden in sys.meta_path:
        sys.meta_path.remove(_hidden)

__all__ = ["jieba"]

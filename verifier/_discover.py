"""Which files are problem files: the names pytest collects, and ``verifier run DIR``'s walk.

Pure Python (no torch, no SymPy): the pytest plugin imports it at option parsing.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path

FILE_PATTERNS = ("problems*.yaml", "*.problems.yaml", "problems*.yml", "*.problems.yml")
_TOP_KEY = r"(?m)^{}[ \t]*:"
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages"}


def matches_pattern(path: Path) -> bool:
    """``problems*.yaml`` or ``*.problems.yaml`` (and ``.yml``)."""
    return any(fnmatch.fnmatch(path.name, p) for p in FILE_PATTERNS)


def looks_like_problem_file(path: Path) -> bool:
    """A cheap look at the text, without parsing: top-level ``version:`` and ``problems:``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return all(re.search(_TOP_KEY.format(k), text) for k in ("version", "problems"))


def problem_files(directory: Path) -> list[Path]:
    """The problem files under ``directory``, sorted: files named like one, and other YAML files
    with top-level ``version:`` and ``problems:``. Hidden folders, virtualenvs and caches are
    not entered."""
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS
                         and not (Path(root) / d / "pyvenv.cfg").exists())
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix in (".yaml", ".yml") and (matches_pattern(path) or looks_like_problem_file(path)):
                found.append(path)
    return found

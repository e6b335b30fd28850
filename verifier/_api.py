"""The library surface behind ``verifier.load`` and ``verifier.run``."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable
from pathlib import Path

from ._errors import ProblemSpecError
from ._report import RunResult
from ._runner import ProblemRunner
from ._spec import Problem, ProblemFile
from ._spec import load as _load

BUNDLED = Path(__file__).with_name("problems.yaml")


def load(path: str | Path) -> ProblemFile:
    """Read a problem file. Raises ``ProblemSpecError`` when the file as a whole is unusable;
    errors inside single problems are kept on those problems (``Problem.errors``)."""
    return _load(path)


def default_files() -> list[Path]:
    """``./problems.yaml`` when there is one, else the bundled bank."""
    local = Path("problems.yaml")
    return [local] if local.is_file() else [BUNDLED]


def select(problems: Iterable[Problem], pattern: str | None) -> list[Problem]:
    """Problems whose id or tags match ``pattern`` (a substring or a glob), like pytest's -k."""
    if not pattern:
        return list(problems)
    def hit(p: Problem) -> bool:
        names = [p.id, *p.tags]
        return any(pattern in n or fnmatch.fnmatch(n, pattern) for n in names)
    return [p for p in problems if hit(p)]


def run(problems: Iterable[Problem] | ProblemFile | str | Path, *, pattern: str | None = None) -> RunResult:
    """Check every problem; returns results, prints nothing."""
    start = time.perf_counter()
    result = RunResult()
    if isinstance(problems, (str, Path)):
        try:
            problems = load(problems)
        except ProblemSpecError as exc:
            result.file_errors.extend(str(d) for d in exc.diagnostics)
            return result
    if isinstance(problems, ProblemFile):
        problems = problems.problems
    for p in select(problems, pattern):
        result.problems.append(ProblemRunner(p).run())
    result.seconds = time.perf_counter() - start
    return result

"""The library surface behind ``verifier.load`` and ``verifier.run``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from ._errors import ProblemSpecError
from ._report import RunResult
from ._spec import Problem, ProblemFile
from ._spec import load as _load
from ._worker import DEFAULT_MEMORY, DEFAULT_TIMEOUT, run_problems

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
    """Problems that the ``-k`` expression ``pattern`` selects by id or tag, as pytest's ``-k``
    (``cubic or square``, ``seed and not slow``; see ``_select``). Raises ``KeywordError``."""
    if not pattern:
        return list(problems)
    from ._select import compile_keyword

    hit = compile_keyword(pattern)
    return [p for p in problems if hit([p.id, *p.tags])]


def run(problems: Iterable[Problem] | ProblemFile | str | Path, *, pattern: str | None = None,
        allow_import: bool = False, timeout: float | None = DEFAULT_TIMEOUT,
        memory: int | None = DEFAULT_MEMORY, isolate: bool = True,
        progress: TextIO | None = None) -> RunResult:
    """Check every problem; returns results, prints nothing (except ``progress``).

    ``allow_import``: import the callables that problems name with ``implementation:``
    (a problem file's code runs then); without it such a problem is an error.

    Each problem runs in a forked worker process under a time budget (``timeout`` seconds,
    None for none) and a memory budget (``memory`` MiB above the worker's size, None for
    none); a problem that crashes the worker or exceeds a budget is an ``error`` result and
    the others still run (see ``_worker``). ``isolate=False`` runs in this process, without
    budgets. ``progress``: a stream (a terminal's stderr) to show the problem running on.
    """
    from ._preflight import run_problem  # torch and SymPy: imported before the worker is forked

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
    chosen = select(problems, pattern)
    result.problems.extend(run_problems(chosen, lambda p: run_problem(p, allow_import=allow_import),
                                        timeout=timeout, memory=memory, isolate=isolate, progress=progress))
    result.seconds = time.perf_counter() - start
    return result

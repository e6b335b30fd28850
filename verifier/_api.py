"""The library surface behind ``verifier.load`` and ``verifier.run``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from ._errors import ProblemSpecError
from ._implementation import runner_for
from ._report import RunResult
from ._results import ProblemResult
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
    """Problems that the ``-k`` expression ``pattern`` selects by id or tag, as pytest's ``-k``
    (``cubic or square``, ``seed and not slow``; see ``_select``). Raises ``KeywordError``."""
    if not pattern:
        return list(problems)
    from ._select import compile_keyword

    hit = compile_keyword(pattern)
    return [p for p in problems if hit([p.id, *p.tags])]


def run(problems: Iterable[Problem] | ProblemFile | str | Path, *, pattern: str | None = None,
        allow_import: bool = False) -> RunResult:
    """Check every problem; returns results, prints nothing.

    ``allow_import``: import the callables that problems name with ``implementation:``
    (a problem file's code runs then); without it such a problem is an error.
    """
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
        try:
            runner = runner_for(p, allow_import=allow_import)
        except ProblemSpecError as exc:
            result.problems.append(ProblemResult(p.id, "error", file=p.file, line=p.line, title=p.title,
                                                 diagnostics=list(exc.diagnostics),
                                                 error="\n".join(map(str, exc.diagnostics))))
            continue
        result.problems.append(runner.run())
    result.seconds = time.perf_counter() - start
    return result

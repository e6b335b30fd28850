"""``implementation: package.module:function``: check a user's own torch code from a problem file.

The problem's formula is the exact reference; the named callable is what torch differentiates
on every AD path. It is called as ``verifier.check`` calls ``fn`` (``_userfn.caller``): by
parameter name with the inputs and the constants it names, else positionally, with tensors of
the problem's dtype; it returns the value of the problem's last defined name (``f`` for
``function:``).

A problem file is untrusted input, and importing a module runs its code. So nothing is
imported unless the user allows it: ``verifier run --allow-import`` (or ``allow-import = true``
under ``[tool.verifier]``), or, in the pytest plugin, a problem file inside the user's own
test tree (pytest's rootdir). A refusal is a positioned error (exit 2 in the CLI).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import Diagnostic, ProblemSpecError

if TYPE_CHECKING:
    from ._runner import ProblemRunner
    from ._spec import Problem


def target_errors(problem: Problem) -> list[Diagnostic]:
    """Checks an implementation cannot answer: another target, or wrt an intermediate."""
    if problem.implementation is None or not problem.define:
        return []
    out_name = list(problem.define)[-1]
    bad = []
    for c in problem.checks:
        if c.target != out_name or any(w not in problem.inputs for w in c.wrt):
            bad.append(Diagnostic(problem.file, c.line, c.col,
                                  f"with 'implementation', checks differentiate what it returns: target "
                                  f"'{out_name}' with wrt among the inputs ({', '.join(problem.inputs)})"))
    return bad


def resolve(problem: Problem, *, allow_import: bool) -> Callable[..., Any]:
    """Import ``problem.implementation`` and return the callable.

    Raises ``ProblemSpecError`` at the ``implementation:`` line when importing is not allowed,
    the module or attribute does not exist, importing it raises, or it is not callable.
    """
    spec = problem.implementation
    assert spec is not None
    line, col = problem.implementation_at

    def refuse(message: str) -> ProblemSpecError:
        return ProblemSpecError(Diagnostic(problem.file, line, col, message))

    if not allow_import:
        raise refuse(f"implementation '{spec}' is not imported: importing runs code named by the problem "
                     "file; allow it with --allow-import (or allow-import = true under [tool.verifier])")
    module_name, _, attr_path = spec.partition(":")
    try:
        with _search_path(Path(problem.file).parent, module_name.split(".")[0]):
            obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise refuse(f"implementation '{spec}': no module named '{exc.name or module_name}'") from None
    except BaseException as exc:  # noqa: BLE001 - the user's module failed while importing
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise refuse(f"implementation '{spec}': importing '{module_name}' raised "
                     f"{type(exc).__name__}: {exc}") from None
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise refuse(f"implementation '{spec}': '{module_name}' has no attribute '{attr_path}'")
        obj = getattr(obj, part)
    if not callable(obj):
        raise refuse(f"implementation '{spec}' is a {type(obj).__name__}, not a callable")
    return obj  # type: ignore[no-any-return]


def runner_for(problem: Problem, *, allow_import: bool) -> ProblemRunner:
    """A ProblemRunner for ``problem``; with ``implementation:``, one that differentiates it.

    Raises ``ProblemSpecError`` (positioned) when the implementation cannot be used.
    """
    from ._runner import ProblemRunner

    if problem.implementation is None or problem.errors:
        return ProblemRunner(problem)
    bad = target_errors(problem)
    if bad:
        raise ProblemSpecError(bad)
    # The runner's torch_fn hook calls it as verifier.check calls fn (_userfn.caller).
    return ProblemRunner(problem, torch_fn=resolve(problem, allow_import=allow_import))


class _search_path:
    """Find a top-level module next to the problem file (or in a folder above it, up to the
    working directory) when it is not importable as installed: a test tree's own helpers."""

    def __init__(self, start: Path, top: str) -> None:
        self.dirs: list[str] = []
        if importlib.util.find_spec(top) is not None:
            return
        start = start.resolve()
        cwd = Path.cwd().resolve()
        stop = cwd if start == cwd or cwd in start.parents else start
        d = start
        while True:
            if (d / top).is_dir() or (d / f"{top}.py").is_file():
                self.dirs.append(str(d))
                break
            if d == stop or d == d.parent:
                break
            d = d.parent

    def __enter__(self) -> None:
        for d in self.dirs:
            if d not in sys.path:
                sys.path.insert(0, d)

    def __exit__(self, *exc: object) -> None:
        return None  # the imported module stays importable for the rest of the process

"""Everything ``run`` would refuse before differentiating, found up front, with positions.

``preflight(problem)`` is what ``verifier check`` validates and what ``run`` does first:

- the inputs are finite in the problem's dtype (a float32 ``fill: 1e39`` overflows);
- one forward pass in float64 through the defines (``_interpret`` with ``Bounded`` ops that
  wrap torch's): shape errors, domain errors (log(-1)), ``.T`` of a scalar, and the
  predictable blowups, each at the node that causes it:
  * the degree of a power tower (``((x**1000)**1000)**1000`` has degree 10**9, whose exact
    value at a float has billions of digits), limit ``MAX_DEGREE``;
  * ``max``/``min`` over more than ``MAX_EXTREMUM_TERMS`` elements (the exact subgradient
    logic grows as n**3: 16 terms take about 40 s);
  * an intermediate array of more than ``MAX_ELEMENTS`` elements;
- each check: a scalar target where one is needed (gradient, hessian, hvp), a square
  Jacobian for eigenvalues, the ``hvp`` vector's length, the number of derivative entries,
  entries times expression size (``MAX_WORK``), and ``expect`` (finite, the right size).

Problem-level diagnostics make the problem an error; a check's diagnostic makes that check
an error, and the problem's other checks still run (``run_problem``).
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._errors import Diagnostic
from ._expr import ExprError
from ._interpret import evaluate
from ._reference import MAX_ENTRIES
from ._results import CheckResult, ProblemResult, _status
from ._runner import ProblemRunner
from ._sizes import (  # noqa: F401  (the limits are documented here)
    MAX_DEGREE,
    MAX_ELEMENTS,
    MAX_EXTREMUM_TERMS,
    MAX_WORK,
    Bound,
    Bounded,
    Refused,
    big,
    bounded_eval,
)
from ._spec import FLOAT_MAX, CheckSpec, Problem


@dataclass
class Findings:
    """What preflight found: problem-level diagnostics, and diagnostics per check (by index)."""

    problem: list[Diagnostic]
    checks: dict[int, Diagnostic]

    @property
    def all(self) -> list[Diagnostic]:
        return sorted(self.problem + list(self.checks.values()), key=lambda d: (d.line, d.col))


def preflight(problem: Problem) -> Findings:
    """Every error that ``run`` would meet before differentiating, with its position."""
    if problem.errors:
        return Findings(list(problem.errors), {})
    diag = _Diag(problem)
    runner = ProblemRunner(problem)
    try:
        values = runner.values()
    except Exception as exc:  # a literal torch cannot hold
        return Findings([diag.at(problem.line, problem.col, f"the inputs cannot be built: {exc}")], {})
    bad = [diag.at(spec.line or problem.line, spec.col or problem.col,
                   f"'{name}' is not finite in {problem.dtype} (a value overflows; largest "
                   f"{FLOAT_MAX[problem.dtype]:.7g})")
           for specs in (problem.inputs, problem.constants) for name, spec in specs.items()
           if not bool(torch.isfinite(values[name]).all())]
    if bad:
        return Findings(bad, {})
    ops = Bounded()
    env: dict[str, Bound] = {}
    for name, v in values.items():
        v64 = v.to(torch.float64)
        scalar = float(v64) if v64.dim() == 0 else None
        env[name] = Bound(v64, 1.0, 1.0, scalar if name in problem.constants else None)
    for name, expr in problem.define.items():
        try:
            try:
                env[name] = bounded_eval(expr.tree, env, ops)
            except ExprError as exc:
                # torch's nan at a removable singularity (sin(t)/t at 0), as ProblemRunner.validate:
                # when the exact value exists (its limit), only shapes and sizes are checked on.
                if "at this point (gives" not in exc.message:
                    raise
                # Sizes and degrees first: an exact value too large to compute (a tower of powers
                # that overflows torch) is never evaluated exactly; the first error found stands.
                ops.torch.check_domain = False
                try:
                    env[name] = bounded_eval(expr.tree, env, ops)
                except ExprError:
                    raise exc from None
                if not runner.exact.defined_at(values):
                    raise exc from None
        except ExprError as exc:
            return Findings([diag.at(exc.line, exc.col, exc.message)], {})
        except Exception as exc:  # torch refusing something the walker let through
            line, col = _pos(expr.tree, problem)
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return Findings([diag.at(line, col, f"torch cannot evaluate this at this point: {why}")], {})
    symbolic = _symbolic_refusal(problem, runner, diag)
    if symbolic is not None:
        return Findings([symbolic], {})
    checks = {}
    for i, check in enumerate(problem.checks):
        message = _check_message(problem, check, env)
        if message is not None:
            line, col, text = message
            checks[i] = diag.at(line, col, text)
    return Findings([], checks)


# Functions whose exact form refuses what torch computes: a class-index target that depends on
# the inputs (torch takes its value at this point; the exact reference needs it fixed).
SYMBOLIC_RULES = frozenset({"cross_entropy", "nll"})


def symbolic_refusals(problem: Problem, exact: Any) -> None:
    """Raise the ``ExprError`` (positioned) of what the exact side refuses and torch's forward
    pass lets through. ``exact`` is the problem's ``ExactReference``.

    Built only for problems that use one of ``SYMBOLIC_RULES``: the symbolic forward pass is the
    reference's own first step (cached on ``exact``), so nothing is computed twice."""
    from . import _symbolic as sym

    if sym.uses(problem.define.values(), SYMBOLIC_RULES):
        exact.model.env()


def _symbolic_refusal(problem: Problem, runner: ProblemRunner, diag: _Diag) -> Diagnostic | None:
    try:
        symbolic_refusals(problem, runner.exact)
    except ExprError as exc:
        line, col = (exc.line, exc.col) if exc.line else (problem.line, problem.col)
        return diag.at(line, col, exc.message)
    return None


def _pos(tree: ast.AST, problem: Problem) -> tuple[int, int]:
    return getattr(tree, "_line", problem.line), getattr(tree, "_col", problem.col)


class _Diag:
    def __init__(self, problem: Problem) -> None:
        self.file = problem.file

    def at(self, line: int, col: int, message: str) -> Diagnostic:
        return Diagnostic(self.file, line, col, message)


def _check_message(problem: Problem, check: CheckSpec, env: dict[str, Bound]) -> tuple[int, int, str] | None:
    """Why ``run`` would refuse this check before differentiating, or None."""
    where = (check.line, check.col)
    target = env.get(check.target)
    if target is None:
        return None  # the reader has already said so
    tsize = int(target.value.numel())
    n = 0
    for w in check.wrt:
        if w in env:
            n += int(env[w].value.numel())
    kind = check.kind
    scalar_kinds = ("gradient", "hessian", "hvp")
    if kind in scalar_kinds and tsize != 1:
        return (*where, f"{kind} needs a scalar target: '{check.target}' has shape "
                f"{tuple(target.value.shape)}; use jacobian, or reduce it (sum, mean)")
    if kind == "eigenvalues" and tsize != 1 and tsize != n:
        return (*where, f"eigenvalues of a Jacobian need a square one: '{check.target}' has {tsize} "
                f"elements and the wrt variables have {n}")
    if kind == "value":
        entries = tsize
    elif kind in ("hessian", "eigenvalues") and tsize == 1:
        entries = n * n
    else:
        entries = n * tsize
    if kind != "value" and entries > MAX_ENTRIES:
        return (*where, f"{kind} of '{check.target}' wrt {n} variables has {entries:,} entries "
                f"(limit {MAX_ENTRIES:,}); check fewer variables with wrt")
    work = entries * target.size
    if kind != "value" and work > MAX_WORK:
        return (*where, f"{kind} of '{check.target}' is too large to differentiate exactly: "
                f"{entries:,} entries of an expression of about {big(target.size)} operations "
                f"(limit {big(MAX_WORK)} in all); check fewer variables with wrt, or a smaller problem")
    if kind == "hvp" and check.vector is not None:
        try:
            vec = bounded_eval(check.vector.tree, env, Bounded())
        except ExprError as exc:
            return exc.line, exc.col, exc.message
        if int(vec.value.numel()) != n:
            line, col = _pos(check.vector.tree, problem)
            return line, col, f"hvp vector has {int(vec.value.numel())} elements, the wrt variables have {n}"
    if check.expect is not None:
        return _expect_message(problem, check, {"value": tsize, "eigenvalues": n}.get(kind, entries))
    return None


def _expect_message(problem: Problem, check: CheckSpec, count: int) -> tuple[int, int, str] | None:
    from . import _exact as exact
    from . import _symbolic as sym

    assert check.expect is not None
    line, col = _pos(check.expect.tree, problem)
    try:
        raw = np.asarray(evaluate(check.expect.tree, {}, sym.SymOps()), dtype=object)
        values = exact.evaluate_exact(list(raw.flat), {}, allow_complex=True)
    except ExprError as exc:
        return exc.line, exc.col, exc.message
    except Exception:  # DomainError, overflow: the message would quote a huge number
        values = np.array([np.nan])
    if not np.all(np.isfinite(values)):
        return line, col, "expect is not finite (it overflows float64, or is undefined)"
    if values.size != count:
        return line, col, (f"expect has {values.size} value{'s' if values.size != 1 else ''}; the "
                           f"{check.kind} of '{check.target}' has {count}")
    return None


def run_problem(problem: Problem, *, allow_import: bool = False) -> ProblemResult:
    """Preflight, then ``ProblemRunner.run`` on the checks that passed it; results in file order.

    ``allow_import``: as in ``verifier.run`` (a problem's ``implementation:`` is imported).
    """
    from ._errors import ProblemSpecError
    from ._implementation import runner_for

    found = preflight(problem)
    if found.problem:
        return _problem_error(problem, found.problem)
    keep = [c for i, c in enumerate(problem.checks) if i not in found.checks]
    result = None
    if keep:
        try:
            runner = runner_for(dataclasses.replace(problem, checks=keep) if found.checks else problem,
                                allow_import=allow_import)
        except ProblemSpecError as exc:
            return _problem_error(problem, list(exc.diagnostics))
        result = runner.run()
        if not found.checks or result.error:
            return result
    done = iter(result.checks if result is not None else [])
    checks: list[CheckResult] = []
    for i, c in enumerate(problem.checks):
        if i in found.checks:
            checks.append(CheckResult(problem.id, c.name, c.kind, c.target, c.wrt, "error", line=c.line,
                                      message=str(found.checks[i])))
        else:
            checks.append(next(done))
    return ProblemResult(problem.id, _status(checks), file=problem.file, line=problem.line,
                         title=problem.title, xfail=problem.xfail, checks=checks,
                         diagnostics=list(found.checks.values()))


def _problem_error(problem: Problem, diags: list[Diagnostic]) -> ProblemResult:
    return ProblemResult(problem.id, "error", file=problem.file, line=problem.line, title=problem.title,
                         xfail=problem.xfail, diagnostics=diags, error="\n".join(str(d) for d in diags))

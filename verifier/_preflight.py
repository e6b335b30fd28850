"""Everything ``run`` would refuse before differentiating, found up front, with positions.

``preflight(problem)`` is what ``verifier check`` validates and what ``run`` does first:

- the inputs are finite in the problem's dtype (a float32 ``fill: 1e39`` overflows);
- one forward pass in float64 through the defines (``_interpret`` with ``_Bounded`` ops that
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
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import _autodiff as ad
from ._errors import Diagnostic
from ._expr import ExprError
from ._interpret import evaluate
from ._reference import MAX_ENTRIES
from ._results import CheckResult, ProblemResult, _status
from ._runner import ProblemRunner
from ._spec import FLOAT_MAX, MAX_NDIM, CheckSpec, Problem

MAX_DEGREE = 1_000_000       # x**1000 raised to 1000 evaluates exactly in about 2 s
MAX_EXTREMUM_TERMS = 16      # max()/min() over one array
MAX_ELEMENTS = 1_000_000     # any intermediate array, like an input
MAX_WORK = 1_000_000_000     # derivative entries x target size: about 10 min at the rate measured (README)


@dataclass
class Bound:
    """A torch value and what the exact side will make of it: its degree (how many times the
    exact value's digits multiply: 1 for a number or an input, exponents multiply along a power
    tower, so ``(2**1000)**1000`` counts like ``(x**1000)**1000``), and the expression size of
    one element."""

    value: Any
    degree: float = 0.0
    size: float = 1.0
    const: float | None = None      # a known scalar, for exponents


class _Refused(Exception):
    pass


class _Bounded:
    """Ops for ``_interpret.evaluate``: torch's, plus degree, size and element-count bounds."""

    def __init__(self) -> None:
        self.torch = ad.TorchOps(torch.float64, check_domain=True)
        self.pending: str | None = None   # a refusal found by an op that has no node to point at

    # the walker's interface
    def number(self, value: int | float) -> Bound:
        return Bound(self.torch.number(value), 1.0, 1.0, float(value))

    def constant(self, name: str) -> Bound:
        return Bound(self.torch.constant(name), 1.0, 1.0, {"pi": math.pi, "e": math.e}.get(name))

    def shape(self, v: Bound) -> tuple[int, ...]:
        return self.torch.shape(v.value)

    def binary(self, op: str, a: Bound, b: Bound) -> Bound:
        shape = np.broadcast_shapes(self.shape(a), self.shape(b))
        size = a.size + b.size + 1
        if op in "+-":
            degree = max(a.degree, b.degree)
        elif op in "*/":
            degree = a.degree + b.degree
        elif b.const is not None:
            degree = a.degree * max(1.0, abs(b.const))
        else:  # a variable exponent: exp(b log a), its size is what counts
            degree = max(a.degree, b.degree)
        const = _arith(op, a.const, b.const)
        if degree > MAX_DEGREE:
            self.pending = self.pending or (
                f"a power of degree {_big(degree)} (limit {_big(MAX_DEGREE)}): its exact value "
                "would have too many digits to compute; use smaller exponents")
        if math.prod(shape) > MAX_ELEMENTS:
            return self._too_large(shape, degree, size)
        return Bound(self.torch.binary(op, a.value, b.value), degree, size, const)

    def neg(self, a: Bound) -> Bound:
        return Bound(self.torch.neg(a.value), a.degree, a.size + 1, None if a.const is None else -a.const)

    def matmul(self, a: Bound, b: Bound) -> Bound:
        sa, sb = self.shape(a), self.shape(b)
        shape = sa[:-1] + sb[1:]
        k = sa[-1] if sa else 1
        if math.prod(shape) > MAX_ELEMENTS:
            return self._too_large(shape, a.degree + b.degree, (a.size + b.size + 1) * k)
        return Bound(self.torch.matmul(a.value, b.value), a.degree + b.degree, (a.size + b.size + 1) * k)

    def index(self, a: Bound, key: tuple[Any, ...]) -> Bound:
        return Bound(self.torch.index(a.value, key), a.degree, a.size, a.const)

    def transpose(self, a: Bound) -> Bound:
        return Bound(self.torch.transpose(a.value), a.degree, a.size, a.const)

    def stack(self, items: list[Bound], shape: tuple[int, ...]) -> Bound:
        full = (len(items),) + tuple(shape)
        degree = max(i.degree for i in items)
        size = max(i.size for i in items)
        if len(full) > MAX_NDIM:
            self.pending = self.pending or f"lists nested {len(full)} deep (limit {MAX_NDIM} dimensions)"
            return Bound(torch.zeros(()), degree, size)
        if math.prod(full) > MAX_ELEMENTS:
            return self._too_large(full, degree, size)
        return Bound(self.torch.stack([i.value for i in items], shape), degree, size)

    def call(self, name: str, args: list[Any], axis: int | None, opts: dict[str, Any] | None = None) -> Bound:
        # args: a Bound, a list of Bounds (a sequence parameter), or None (an omitted one)
        flat = [b for a in args if a is not None for b in (a if isinstance(a, list) else [a])]
        values = [None if a is None else [b.value for b in a] if isinstance(a, list) else a.value
                  for a in args]
        out = self.torch.call(name, values, axis, opts or {})
        degree = max((b.degree for b in flat), default=1.0)
        size = sum(b.size for b in flat) + 1
        first = args[0] if args and isinstance(args[0], Bound) else None
        if first is None or len(flat) != 1:
            if name == "dot" and len(flat) == 2:
                n = int(torch.as_tensor(flat[0].value).numel())
                degree, size = flat[0].degree + flat[1].degree, size * n
            return Bound(out, degree, size)
        shape = self.shape(first)
        n = (math.prod(shape) if axis is None else shape[axis]) if shape else 1
        if name in ("max", "min") and n > MAX_EXTREMUM_TERMS:
            self.pending = self.pending or (
                f"{name}() over {n} elements (limit {MAX_EXTREMUM_TERMS}): the exact subgradient "
                "of a max over many terms is too costly; split it, or check fewer elements")
        if name in ("sum", "mean", "logsumexp", "softmax", "max", "min", "norm"):
            size = first.size * n + 1
        if name == "norm":
            degree = 2 * first.degree
        elif name == "prod":
            degree, size = first.degree * n, first.size * n + 1
        return Bound(out, degree, size)

    def compare(self, op: str, a: Bound, b: Bound) -> Bound:
        return Bound(self.torch.compare(op, a.value, b.value), max(a.degree, b.degree), a.size + b.size + 1)

    def logic(self, op: str, a: Bound, b: Bound | None) -> Bound:
        if b is None:
            return Bound(self.torch.logic(op, a.value, None), a.degree, a.size + 1)
        return Bound(self.torch.logic(op, a.value, b.value), max(a.degree, b.degree), a.size + b.size + 1)

    def check(self, v: Bound, what: str, node: Any) -> None:
        if self.pending:
            message, self.pending = self.pending, None
            raise ExprError(message, node)
        self.torch.check(v.value, what, node)

    def _too_large(self, shape: tuple[int, ...], degree: float, size: float) -> Bound:
        self.pending = self.pending or (f"an array of shape {tuple(shape)} has {_big(math.prod(shape))} "
                                        f"elements (limit {_big(MAX_ELEMENTS)})")
        return Bound(torch.zeros(()).expand(shape), degree, size)


def _arith(op: str, a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    try:
        r = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
             "/": lambda: a / b if b else math.nan, "**": lambda: a**b if abs(b) <= 1e6 else math.nan}[op]()
    except (OverflowError, ZeroDivisionError, ValueError):
        return None
    r = r.real if isinstance(r, complex) else float(r)
    return r if math.isfinite(r) else None


def _big(x: float) -> str:
    return f"{x:,.0f}" if x < 1e15 else f"{x:.3g}"


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
    ops = _Bounded()
    env: dict[str, Bound] = {}
    for name, v in values.items():
        v64 = v.to(torch.float64)
        scalar = float(v64) if v64.dim() == 0 else None
        env[name] = Bound(v64, 1.0, 1.0, scalar if name in problem.constants else None)
    for name, expr in problem.define.items():
        try:
            try:
                env[name] = _eval(expr.tree, env, ops)
            except ExprError as exc:
                # torch's nan at a removable singularity (sin(t)/t at 0), as ProblemRunner.validate:
                # when the exact value exists (its limit), only shapes and sizes are checked on.
                if "at this point (gives" not in exc.message:
                    raise
                # Sizes and degrees first: an exact value too large to compute (a tower of powers
                # that overflows torch) is never evaluated exactly; the first error found stands.
                ops.torch.check_domain = False
                try:
                    env[name] = _eval(expr.tree, env, ops)
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


def _eval(tree: ast.expr, env: dict[str, Bound], ops: _Bounded) -> Bound:
    ops.pending = None
    out = evaluate(tree, env, ops)
    if ops.pending:
        raise ExprError(ops.pending, tree)
    if not isinstance(out.value, torch.Tensor):
        out = Bound(torch.as_tensor(out.value, dtype=torch.float64), out.degree, out.size, out.const)
    return out


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
                f"{entries:,} entries of an expression of about {_big(target.size)} operations "
                f"(limit {_big(MAX_WORK)} in all); check fewer variables with wrt, or a smaller problem")
    if kind == "hvp" and check.vector is not None:
        try:
            vec = _eval(check.vector.tree, env, _Bounded())
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

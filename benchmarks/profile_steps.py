"""Per-step cost of checking the problems of one file, inside one process.

    python benchmarks/profile_steps.py FILE.yaml

Calls the engine's internals in the order ``ProblemRunner.reference``/``run_check`` do
and prints one JSON line per finished step, flushed at once, so that a parent that kills
this process at a timeout still knows which steps finished and which one was running
(a line ``{"begin": ...}`` precedes each step). Steps:

  import     import verifier (torch, sympy, ...)          parse    verifier._spec.load
  values     materialise the inputs                       point    inputs -> exact rationals
  target     build the symbolic target (first check: interprets the formula in SymPy)
  derive     symbolic derivatives (gradient / Hessian / Jacobian, cached as in a run)
  kinks      look for abs/relu/max kinks at the point
  exact      exact evaluation at the point (eigenvalues: the matrix and its eigenvalues)
  flat       build the flat torch function
  <mode>     each torch path (backward, functional, jacrev, jacfwd, hessian_fwdrev)
  compare    comparisons of all torch results with the reference
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any


def emit(**record: Any) -> None:
    print(json.dumps(record), flush=True)


def timed(step: str, fn: Callable[[], Any], **where: Any) -> Any:
    emit(begin=step, **where)
    t0 = time.perf_counter()
    out = fn()
    emit(step=step, seconds=time.perf_counter() - t0, **where)
    return out


def profile_check(r: Any, check: Any, values: dict[str, Any], where: dict[str, Any]) -> None:
    import sympy as sp

    from verifier import _symbolic as sym
    from verifier._compare import tolerance_for

    cut = [w for w in check.wrt if w in r.problem.define]
    point = timed("point", lambda: r.exact.point(values, cut), **where)
    target, syms = timed("target", lambda: r.exact._target(check, values), **where)
    exprs, shape = timed("derive", lambda: r.exact._derive(check, target, syms, point, cache=True),
                         **where)
    kinks = r.model.ops.kinks  # as reference(): the target is only searched when there are kinks
    if check.kind != "value" and kinks:
        timed("kinks", lambda: sym.kinks_hit(kinks, point, sp.Tuple(*target.flat)), **where)
    symmetric = target.size == 1
    ref = timed("exact", lambda: r.exact._evaluate(check, exprs, shape, point, symmetric), **where)
    p = timed("flat", lambda: r.flat(check, values), **where)
    tol = tolerance_for(r.dtype_name, r.problem.tolerance, check.tolerance)
    scalar_target = ref.symmetric if check.kind == "eigenvalues" else True
    actual: dict[str, Any] = {}
    for mode in r.paths.modes_for(check, scalar_target):
        try:
            actual[mode] = timed(mode, lambda m=mode: r.paths.autodiff(check, p, m, ref),  # type: ignore[misc]
                                 **where)
        except Exception as exc:  # a torch path that breaks is reported, as the runner does
            emit(step=mode, error=f"{type(exc).__name__}: {exc}", **where)
    results = timed("compare", lambda: {m: r.compare(check, ref, a, tol)
                                        for m, a in actual.items()}, **where)
    emit(result={m: res.status for m, res in results.items()}, **where)


def main(path: str) -> int:
    t0 = time.perf_counter()
    from verifier._runner import ProblemRunner
    from verifier._spec import load

    emit(step="import", seconds=time.perf_counter() - t0, problem="", check="")
    pf = timed("parse", lambda: load(path), problem="", check="")
    for problem in pf.problems:
        if problem.errors:
            emit(error="; ".join(map(str, problem.errors)), problem=problem.id, check="")
            continue
        r = ProblemRunner(problem)
        values = timed("values", r.values, problem=problem.id, check="")
        for check in problem.checks:
            where = {"problem": problem.id, "check": check.name or check.kind}
            try:
                profile_check(r, check, values, where)
            except Exception as exc:  # keep profiling the other checks (internals may be renamed)
                emit(error=f"{type(exc).__name__}: {exc}", **where)
    emit(step="total", seconds=time.perf_counter() - t0, problem="", check="")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python benchmarks/profile_steps.py FILE.yaml")
    raise SystemExit(main(sys.argv[1]))

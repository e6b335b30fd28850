"""Orchestration: one problem -> exact reference + every AD path -> comparisons -> results.

The exact side lives in ``_reference.py``, the torch side in ``_paths.py``; this module runs
them for each check and turns their numbers into verdicts. Nothing here prints. One
problem's failure never stops another's: every stage that can raise is caught and recorded
on the problem or check it belongs to.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from . import _autodiff as ad
from . import _exact as exact
from . import _rounding
from . import _symbolic as sym
from . import _userfn as user
from ._compare import Comparison, compare, compare_eigenvalues, judge_subgradient, match_eigenvalues, tolerance_for
from ._errors import CheckError, Diagnostic
from ._expr import ExprError
from ._interpret import evaluate
from ._paths import AutodiffPaths
from ._reference import ExactReference, Reference
from ._results import CheckResult, ModeResult, ProblemResult, _status, _verdict
from ._spec import CheckSpec, Problem

__all__ = ["ProblemRunner", "Reference"]


class ProblemRunner:
    """Everything needed to check one problem, at its own point or at other values."""

    def __init__(self, problem: Problem, torch_fn: Callable[..., torch.Tensor] | None = None,
                 input_dtypes: dict[str, torch.dtype] | None = None) -> None:
        self.problem = problem
        self.dtype_name = problem.dtype
        self.dtype = ad.DTYPES[problem.dtype]
        self.exact = ExactReference(problem, self.values)
        self.paths = AutodiffPaths(problem, self.values, torch_fn, input_dtypes)

    @property
    def torch_fn(self) -> Callable[..., torch.Tensor] | None:
        return self.paths.torch_fn

    @torch_fn.setter
    def torch_fn(self, fn: Callable[..., torch.Tensor] | None) -> None:
        self.paths.torch_fn = fn

    @property
    def model(self) -> sym.SymbolicModel:
        return self.exact.model

    def reference(self, check: CheckSpec, values: dict[str, torch.Tensor]) -> Reference:
        """The exact reference of ``check`` at ``values`` (see ``ExactReference.reference``)."""
        return self.exact.reference(check, values)

    def flat(self, check: CheckSpec, values: dict[str, torch.Tensor]) -> ad.FlatProblem:
        return self.paths.flat(check, values)

    # -- values ---------------------------------------------------------------------------
    def values(self, overrides: dict[str, np.ndarray] | None = None) -> dict[str, torch.Tensor]:
        p = self.problem
        vals = {**ad.materialize(p.inputs, self.dtype), **ad.materialize(p.constants, self.dtype)}
        for name, v in (overrides or {}).items():
            t = torch.as_tensor(np.asarray(v, dtype=np.float64)).to(self.dtype)
            if tuple(t.shape) != tuple(vals[name].shape):
                if t.numel() != vals[name].numel():
                    raise ValueError(f"'{name}' has shape {tuple(t.shape)}, expected {tuple(vals[name].shape)}")
                t = t.reshape(vals[name].shape)
            vals[name] = t
        return vals

    def validate(self, values: dict[str, torch.Tensor]) -> None:
        """Forward pass in float64 that turns nan/inf and shape errors into ExprError.

        torch's nan at a removable singularity (sin(t)/t at 0) is not the function's value: no
        error when the exact value there exists (its limit); each check then judges torch."""
        vals64 = {k: v.to(torch.float64) for k, v in values.items()}
        try:
            ad.forward(self.problem.define, vals64, torch.float64, check_domain=True)
        except ExprError as exc:
            if not ("at this point (gives" in exc.message and self.exact.defined_at(values)):
                raise
        from ._preflight import symbolic_refusals  # what only the exact side refuses (R1), positioned

        symbolic_refusals(self.problem, self.exact)

    # -- one check, one problem -----------------------------------------------------------
    def run_check(self, check: CheckSpec, values: dict[str, torch.Tensor]) -> CheckResult:
        p = self.problem
        res = CheckResult(p.id, check.name, check.kind, check.target, check.wrt, "error", line=check.line)
        tol = tolerance_for(self.paths.tolerance_dtype, p.tolerance, check.tolerance)
        try:
            ref = self.reference(check, values)
        except (exact.DomainError, ValueError, ExprError) as exc:
            res.message = f"exact reference: {exc}"
            return res
        res.reference, res.certified, res.radius = ref.values, ref.certified, ref.radius
        if check.expect is not None:
            res.expect = self._compare_expect(check, ref, tol)
        if ref.status == "nondifferentiable":  # torch's value is judged as a subgradient below
            res.message, res.left, res.right = ref.message, ref.left, ref.right
            if ref.lower is None:  # a jump, or a second derivative where the first has a kink
                bad_expect = res.expect is not None and not res.expect.passed
                res.status = "failed" if bad_expect else "nondifferentiable"
                return res
        try:
            flatp = self.paths.flat(check, values)
            probe = self.paths.probe(check, flatp)  # a user's fn: its custom autograd.Functions
            functions = probe.functions
        except CheckError as exc:
            res.message = str(exc)
            return res
        want = tuple(np.shape(ref.values))
        if check.kind == "value" and probe.shape is not None and probe.shape != want and np.prod(want) > 1:
            # Same elements in another shape (a forgotten reshape): wrong for every caller.
            res.status = "failed"
            res.message = (f"fn returned shape {probe.shape}, but '{check.target}' has shape {want}: "
                           "the values are compared only in the right shape")
            return res
        scalar_target = ref.symmetric if check.kind == "eigenvalues" else True
        for mode in self.paths.modes_for(check, scalar_target):
            why = self.paths.not_run(check, mode, functions, scalar_target)
            if why:
                res.modes[mode] = ModeResult("unsupported", error=why)
                continue
            try:
                actual = self.paths.autodiff(check, flatp, mode, ref)
            except Exception as exc:  # a torch path that breaks or refuses is reported, not fatal
                why = self.paths.not_run(check, mode, functions, scalar_target, exc)
                broken = None if why else user.broken_rule(exc, functions, check.kind, mode)
                if broken:  # the user's own derivative rule raised: it is wrong on this path
                    res.modes[mode] = ModeResult("failed", error=broken)
                else:
                    res.modes[mode] = ModeResult("unsupported" if why else "error",
                                                 error=why or f"{type(exc).__name__}: {exc}".strip())
                continue
            res.modes[mode] = self.compare(check, ref, actual, tol, self.paths.tolerance_dtype)
        res.status, message = _verdict(res)
        res.message = res.message or message or (probe.hint if res.status == "failed" else "")
        if res.status == "passed" and ref.status == "nondifferentiable":
            res.status = "nondifferentiable"  # at a kink, every path gave a subgradient
        return res

    def compare(self, check: CheckSpec, ref: Reference, actual: np.ndarray, tol: dict[str, float],
                dtype: str | None = None) -> ModeResult:
        dtype = dtype or self.dtype_name
        # An explicit tolerance wins; else each element's rounding bound (from the exact reference).
        explicit = bool(self.problem.tolerance or check.tolerance)
        bound = None if explicit else _rounding.in_dtype(ref.bound, dtype, self.dtype_name)
        if ref.status == "nondifferentiable":
            c = judge_subgradient(ref, actual, tol["rtol"], tol["atol"], dtype, bound)
        elif check.kind == "eigenvalues":
            assert ref.matrix is not None
            eig = _eigen_bound(bound, ref.values, actual)
            c = compare_eigenvalues(ref.values, actual, ref.norm, tol["rtol"], tol["atol"], dtype, bound=eig,
                                    radius=ref.radius)
        else:
            c = compare(ref.values, actual, tol["rtol"], tol["atol"], dtype, bound=bound, radius=ref.radius)
        return ModeResult("passed" if c.passed else "failed", comparison=c, actual=actual)

    def _compare_expect(self, check: CheckSpec, ref: Reference, tol: dict[str, float]) -> Comparison:
        assert check.expect is not None
        # expect is exact as written (0.1 is 1/10), not rounded like the function's literals.
        raw = np.asarray(evaluate(check.expect.tree, {}, sym.SymOps()), dtype=object)
        exp = exact.evaluate_exact(list(raw.flat), {}, allow_complex=True)
        if ref.values.dtype.kind != "c":
            if np.any(exp.imag != 0):
                return compare(ref.values, exp, tol["rtol"], tol["atol"])
            exp = exp.real
        if exp.size == ref.values.size:
            exp = exp.reshape(ref.values.shape)
        if ref.status == "nondifferentiable":  # at a kink, expect must be a subgradient
            return judge_subgradient(ref, exp, tol["rtol"], tol["atol"], "float64", None)
        if check.kind == "eigenvalues" and ref.matrix is not None:
            return compare_eigenvalues(ref.values, exp, ref.norm, tol["rtol"], tol["atol"])
        return compare(ref.values, exp, tol["rtol"], tol["atol"])

    def run(self) -> ProblemResult:
        p = self.problem
        out = ProblemResult(p.id, "error", file=p.file, line=p.line, title=p.title, xfail=p.xfail)
        if p.errors:
            out.diagnostics = list(p.errors)
            out.error = "\n".join(str(d) for d in p.errors)
            return out
        values: dict[str, torch.Tensor] | None = None
        try:
            values = self.values()
            self.validate(values)
        except ExprError as exc:
            d = Diagnostic(p.file, exc.line, exc.col, exc.message)
            out.diagnostics, out.error = [d], str(d)
            return out
        except Exception as exc:
            out.error = f"{p.file}:{p.line}:{p.col}: {type(exc).__name__}: {exc}"
            return out
        assert values is not None  # only a removable singularity gets past validation
        for check in p.checks:
            start = time.perf_counter()
            try:
                out.checks.append(self.run_check(check, values))
            except Exception as exc:  # keep what is already computed
                res = CheckResult(p.id, check.name, check.kind, check.target, check.wrt, "error",
                                  line=check.line, message=f"internal error: {type(exc).__name__}: {exc}\n"
                                  + traceback.format_exc(limit=3))
                out.checks.append(res)
            out.checks[-1].seconds = time.perf_counter() - start
        out.status = _status(out.checks)
        return out


def _eigen_bound(bound: Any, ref: np.ndarray, actual: np.ndarray) -> float | None:
    """One bound for every eigenvalue; a lazy Weyl bound is formed only if an eigenvalue is
    beyond its floor (the eigensolver's own error, which the full bound always exceeds)."""
    if bound is None:
        return None
    if isinstance(bound, _rounding.LazyEigenBound):
        err = np.abs(match_eigenvalues(ref, np.asarray(actual)) - ref)
        return bound.floor if np.all(err <= bound.floor) else bound.value()
    return None if not np.size(bound) else float(np.asarray(bound).flat[0])

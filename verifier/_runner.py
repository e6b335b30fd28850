"""Orchestration: one problem -> exact reference + every AD path -> comparisons -> results.

Nothing here prints. One problem's failure never stops another's: every stage that can
raise is caught and recorded on the problem or check it belongs to.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
import torch

from . import _autodiff as ad
from . import _exact as exact
from . import _symbolic as sym
from ._compare import Comparison, compare, compare_eigenvalues, tolerance_for
from ._errors import Diagnostic
from ._expr import ExprError
from ._interpret import evaluate
from ._results import CheckResult, ModeResult, ProblemResult, _status
from ._spec import CheckSpec, Problem

MAX_ENTRIES = 1_000_000  # symbolic derivative entries per check (a 1000 x 1000 Hessian)


@dataclass
class Reference:
    """The exact answer for one check at one point (rounded once, from exact values)."""

    kind: str
    values: np.ndarray             # float64, or complex128 for eigenvalues
    status: str = "ok"             # ok | nondifferentiable
    message: str = ""
    left: np.ndarray | None = None
    right: np.ndarray | None = None
    matrix: np.ndarray | None = None
    symmetric: bool = True

    @property
    def norm(self) -> float:
        """||A||_2 of the reference matrix: max |eigenvalue| when symmetric, else an SVD (once)."""
        if self.matrix is None or not self.matrix.size:
            return 0.0
        if "_norm" not in self.__dict__:
            self.__dict__["_norm"] = (float(np.abs(self.values).max()) if self.symmetric
                                      else float(np.linalg.norm(self.matrix, 2)))
        return float(self.__dict__["_norm"])


class ProblemRunner:
    """Everything needed to check one problem, at its own point or at other values."""

    def __init__(self, problem: Problem,
                 torch_fn: Callable[..., torch.Tensor] | None = None) -> None:
        self.problem = problem
        # A user's own torch function of the inputs (by name) to check instead of the formula.
        self.torch_fn = torch_fn
        self._matrices: dict[Any, np.ndarray] = {}   # evaluated reference matrices, by point
        self._ad_matrices: dict[Any, torch.Tensor] = {}  # AD Hessians/Jacobians, by path
        self.dtype_name = problem.dtype
        self.dtype = ad.DTYPES[problem.dtype]
        self._model: sym.SymbolicModel | None = None

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
        """Forward pass in float64 that turns nan/inf and shape errors into ExprError."""
        vals64 = {k: v.to(torch.float64) for k, v in values.items()}
        ad.forward(self.problem.define, vals64, torch.float64, check_domain=True)

    @property
    def model(self) -> sym.SymbolicModel:
        if self._model is None:
            p = self.problem
            shapes = {n: s.shape for n, s in p.inputs.items()}
            consts = {n: v.detach().to(torch.float64).numpy() for n, v in self.values().items()
                      if n in p.constants}
            self._model = sym.SymbolicModel(p.define, shapes, consts)
        return self._model

    def _point(self, values: dict[str, torch.Tensor], cut: Iterable[str] = ()) -> dict[Any, Any]:
        env = self.model.symbols
        point: dict[Any, Any] = {}
        for name, syms in env.items():
            arr = values[name].detach().to(torch.float64).numpy()
            for s, v in zip(syms.flat, arr.reshape(-1)):
                point[s] = sym.exact(v)
        if cut:
            fwd = ad.forward(self.problem.define, values, self.dtype)
            cut_env = self.model.env(frozenset(cut), {c: tuple(fwd[c].shape) for c in cut})
            for c in cut:
                arr = fwd[c].detach().to(torch.float64).numpy()
                for s, v in zip(cut_env[c].flat, arr.reshape(-1)):
                    point[s] = sym.exact(v)
        return point

    # -- the exact reference --------------------------------------------------------------
    def _target(self, check: CheckSpec, values: dict[str, torch.Tensor]) -> tuple[np.ndarray, list[Any]]:
        cut = frozenset(w for w in check.wrt if w in self.problem.define)
        shapes = None
        if cut:
            fwd = ad.forward(self.problem.define, values, self.dtype)
            shapes = {c: tuple(fwd[c].shape) for c in cut}
        env = self.model.env(cut, shapes)
        if check.target in env:
            return env[check.target], self.model.wrt_symbols(env, check.wrt)
        raise KeyError(check.target)

    def _derive(self, check: CheckSpec, target: np.ndarray, syms: list[Any], point: dict[Any, Any],
                cache: bool) -> tuple[list[Any], tuple[int, ...]]:
        kind, n = check.kind, len(syms)
        if kind == "value":
            return list(target.flat), target.shape
        entries = n * n if kind in ("hessian", "eigenvalues") and target.size == 1 else n * target.size
        if entries > MAX_ENTRIES:
            raise ValueError(f"{kind} of '{check.target}' wrt {n} variables has {entries:,} entries "
                             f"(limit {MAX_ENTRIES:,}); check fewer variables with wrt")
        scalar = kind in ("gradient", "hessian", "hvp") or (kind == "eigenvalues" and target.size == 1)
        if scalar and target.size != 1:
            raise ValueError(f"{kind} needs a scalar target, '{check.target}' has shape {target.shape}")
        memo = self.model.cached if cache else (lambda key, build: build())
        key = (check.target, check.wrt)
        se = sym.accelerator() if cache else None  # kink branches stay in SymPy
        if kind == "eigenvalues" and not scalar and target.size != n:
            raise ValueError(f"eigenvalues of a Jacobian need a square one: '{check.target}' has "
                             f"{target.size} elements and there are {n} wrt variables")
        if not scalar:
            def build_jac() -> list[list[Any]]:
                exprs, fsyms = sym.fast(list(target.flat), syms, se)
                return sym.jacobian(exprs, fsyms)
            jac = memo(("jac",) + key, build_jac)
            return [e for row in jac for e in row], (target.size, n)

        def build_grad() -> tuple[list[Any], list[Any]]:
            (t,), fsyms = sym.fast([target.flat[0]], syms, se)
            return sym.gradient(t, fsyms), fsyms
        grad, fsyms = memo(("grad",) + key, build_grad)
        if kind == "gradient":
            return grad, (n,)
        if kind == "hvp":
            v = self._vector(check, point, n)
            if fsyms and exact._is_symengine(fsyms[0]):
                v = [_se_number(vi) for vi in v]
            gv = sum((g * vi for g, vi in zip(grad, v)), v[0] * 0) if grad else sp.Integer(0)
            return sym.gradient(gv, fsyms), (n,)
        h = memo(("hess",) + key, lambda: sym.hessian_from_gradient(grad, fsyms))
        return [e for row in h for e in row], (n, n)

    def _vector(self, check: CheckSpec, point: dict[Any, Any], n: int) -> list[Any]:
        assert check.vector is not None
        env = self.model.env()
        v = np.asarray(evaluate(check.vector.tree, env, self.model.ops), dtype=object)
        if v.size != n:
            raise ValueError(f"hvp vector has {v.size} elements, the wrt variables have {n}")
        return exact.exact_values(list(v.flat), point)

    def reference(self, check: CheckSpec, values: dict[str, torch.Tensor]) -> Reference:
        cut = [w for w in check.wrt if w in self.problem.define]
        point = self._point(values, cut)
        target, syms = self._target(check, values)
        exprs, shape = self._derive(check, target, syms, point, cache=True)
        symmetric = target.size == 1  # eigenvalues of a Hessian; a vector target has a Jacobian
        kinks = self.model.ops.kinks
        hit = [] if check.kind == "value" or not kinks else sym.kinks_hit(kinks, point, sp.Tuple(*target.flat))
        if hit:
            # Each side replaces every kink hit by one of its smooth branches.
            branch = [sym.branches(k, point) for k in hit]
            mappings = [{k.node: b[side] for k, b in zip(hit, branch)} for side in (0, 1)]
            sides = []
            for mapping in mappings:
                t_side = sym.emap(lambda e, m=mapping: e.xreplace(m), target)
                ex, _ = self._derive(check, t_side, syms, point, cache=False)
                sides.append(self._evaluate(check, ex, shape, point, symmetric, reuse=False))
            left, right = sides
            same = left.values.shape == right.values.shape and np.array_equal(left.values, right.values)
            if same and check.kind in ("hessian", "hvp", "eigenvalues") and target.size == 1:
                # A second derivative exists only where the first does: compare the branches' gradients.
                grads = [exact.evaluate_exact(sym.gradient(target.flat[0].xreplace(m), syms), point)
                         for m in mappings]
                same = np.array_equal(grads[0], grads[1])
            if same and not any(k.discontinuous for k in hit):
                return left
            what = ", ".join(sorted({_kink_name(k) for k in hit}))
            return Reference(check.kind, left.values, status="nondifferentiable", left=left.values,
                             right=right.values, message=f"not differentiable at this point: {what} "
                             "is at its kink; left and right values differ" if not same else
                             f"not differentiable at this point: {what} is discontinuous here")
        return self._evaluate(check, exprs, shape, point, symmetric)

    def _evaluate(self, check: CheckSpec, exprs: list[Any], shape: tuple[int, ...],
                  point: dict[Any, Any], symmetric: bool, reuse: bool = True) -> Reference:
        # A Hessian (or Jacobian) evaluated for one check is reused by an eigenvalue check
        # of the same target at the same point.
        label = {"hessian": "hess", "jacobian": "jac"}.get(check.kind) or ("hess" if symmetric else "jac")
        key = (label, check.target, check.wrt, frozenset(point.items())) if reuse else None
        if check.kind != "eigenvalues":
            vals = exact.evaluate_exact(exprs, point, bits=self.model.bits).reshape(shape)
            if key is not None and check.kind in ("hessian", "jacobian"):
                self._matrices[key] = vals
            if check.kind == "gradient" and len(check.wrt) == 1:
                vals = vals.reshape(self._wrt_shape(check.wrt[0]))
            return Reference(check.kind, vals)
        n = shape[1]
        tol = tolerance_for(self.dtype_name, self.problem.tolerance, check.tolerance)
        eig, matrix = exact.eigen_reference(exprs, n, point, symmetric, rtol=tol["rtol"], atol=tol["atol"],
                                          matrix=self._matrices.get(key) if key else None, bits=self.model.bits)
        return Reference(check.kind, eig, matrix=matrix, symmetric=symmetric)

    def _wrt_shape(self, name: str) -> tuple[int, ...]:
        if name in self.problem.inputs:
            return self.problem.inputs[name].shape
        return tuple(self._cut_shape(name))

    def _cut_shape(self, name: str) -> tuple[int, ...]:
        fwd = ad.forward(self.problem.define, self.values(), self.dtype, until=name)
        return tuple(fwd[name].shape)

    # -- autodiff -------------------------------------------------------------------------
    def flat(self, check: CheckSpec, values: dict[str, torch.Tensor],
             fn: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None) -> ad.FlatProblem:
        cut = [w for w in check.wrt if w in self.problem.define]
        point = dict(values)
        if cut:
            fwd = ad.forward(self.problem.define, values, self.dtype)
            point.update({c: fwd[c].detach() for c in cut})
        defines = self.problem.define
        if fn is None and self.torch_fn is not None:
            user, names = self.torch_fn, list(self.problem.inputs)

            def fn(v: dict[str, torch.Tensor]) -> torch.Tensor:
                return user(**{n: v[n] for n in names})
        if fn is None:
            def fn(v: dict[str, torch.Tensor]) -> torch.Tensor:
                env = ad.forward(defines, v, self.dtype, overrides={c: v[c] for c in cut}, until=check.target)
                return env[check.target]
        scalar = check.kind in ("gradient", "hessian", "hvp")
        return ad.flatten(fn, point, check.wrt, scalar)

    def modes_for(self, check: CheckSpec, scalar_target: bool) -> tuple[str, ...]:
        kind = check.kind
        if kind == "eigenvalues":
            kind = "hessian" if scalar_target else "jacobian"
        applicable = ad.MODES_FOR[kind]
        if check.kind == "value" or check.modes is None:
            return applicable
        return tuple(m for m in applicable if m in check.modes)

    def autodiff(self, check: CheckSpec, p: ad.FlatProblem, mode: str, ref: Reference) -> np.ndarray:
        kind = check.kind
        if kind == "value":
            out = p.fn(p.z0)
        elif kind == "gradient":
            out = ad.gradient(p, mode)
        elif kind == "jacobian":
            out = self._ad_matrices[_ad_key("jac", check, mode, p)] = ad.jacobian(p, mode)
        elif kind == "hessian":
            out = self._ad_matrices[_ad_key("hess", check, mode, p)] = ad.hessian(p, mode)
        elif kind == "hvp":
            v = torch.as_tensor(self._vector_values(check, p), dtype=p.z0.dtype)
            out = ad.hvp(p, mode, v)
        else:
            matrix = self._ad_matrices.get(_ad_key("hess" if ref.symmetric else "jac", check, mode, p))
            if matrix is None and ref.symmetric:
                matrix = ad.hessian(ad.FlatProblem(lambda z: p.fn(z).reshape(()), p.z0, True), mode)
            elif matrix is None:
                matrix = ad.jacobian(p, mode)
            out = ad.eigenvalues(matrix, ref.symmetric)
        return out.detach().numpy(force=True)  # force: ZeroTensors from forward mode

    def _vector_values(self, check: CheckSpec, p: ad.FlatProblem) -> np.ndarray:
        assert check.vector is not None
        vals = {**self.values()}
        env = ad.forward(self.problem.define, vals, torch.float64)
        v = evaluate(check.vector.tree, env, ad.TorchOps(torch.float64))
        return np.asarray(torch.as_tensor(v, dtype=torch.float64).reshape(-1))

    # -- one check, one problem -----------------------------------------------------------
    def run_check(self, check: CheckSpec, values: dict[str, torch.Tensor]) -> CheckResult:
        p = self.problem
        res = CheckResult(p.id, check.name, check.kind, check.target, check.wrt, "error", line=check.line)
        tol = tolerance_for(self.dtype_name, p.tolerance, check.tolerance)
        try:
            ref = self.reference(check, values)
        except (exact.DomainError, ValueError, ExprError) as exc:
            res.message = f"exact reference: {exc}"
            return res
        res.reference = ref.values
        if check.expect is not None:
            res.expect = self._compare_expect(check, ref, tol)
        if ref.status == "nondifferentiable":
            res.status, res.message, res.left, res.right = "nondifferentiable", ref.message, ref.left, ref.right
            return res
        flatp = self.flat(check, values)
        scalar_target = ref.symmetric if check.kind == "eigenvalues" else True
        for mode in self.modes_for(check, scalar_target):
            try:
                actual = self.autodiff(check, flatp, mode, ref)
            except NotImplementedError as exc:  # e.g. a custom Function without jvp/vmap
                res.modes[mode] = ModeResult("unsupported", error=f"{type(exc).__name__}: {exc}".strip())
                continue
            except Exception as exc:  # a torch path that breaks is reported, not fatal
                res.modes[mode] = ModeResult("error", error=f"{type(exc).__name__}: {exc}".strip())
                continue
            res.modes[mode] = self.compare(check, ref, actual, tol)
        statuses = {m.status for m in res.modes.values()} - {"unsupported"}
        if res.expect is not None and not res.expect.passed:
            res.status = "failed"
            res.message = "expect does not match the exact reference: the problem file is wrong"
        elif "failed" in statuses:
            res.status = "failed"
        elif "error" in statuses or not statuses:
            res.status = "error"
            res.message = res.message or ("" if statuses else "no torch path applies or runs here")
        else:
            res.status = "passed"
        return res

    def compare(self, check: CheckSpec, ref: Reference, actual: np.ndarray, tol: dict[str, float],
                dtype: str | None = None) -> ModeResult:
        dtype = dtype or self.dtype_name
        if check.kind == "eigenvalues":
            assert ref.matrix is not None
            c = compare_eigenvalues(ref.values, actual, ref.norm, tol["rtol"], tol["atol"], dtype)
        else:
            c = compare(ref.values, actual, tol["rtol"], tol["atol"], dtype)
        return ModeResult("passed" if c.passed else "failed", comparison=c, actual=actual)

    def _compare_expect(self, check: CheckSpec, ref: Reference, tol: dict[str, float]) -> Comparison:
        assert check.expect is not None
        raw = np.asarray(evaluate(check.expect.tree, {}, sym.SymOps()), dtype=object)
        exp = exact.evaluate_exact(list(raw.flat), {}, allow_complex=True)
        if ref.values.dtype.kind != "c":
            if np.any(exp.imag != 0):
                return compare(ref.values, exp, tol["rtol"], tol["atol"])
            exp = exp.real
        if exp.size == ref.values.size:
            exp = exp.reshape(ref.values.shape)
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


def _ad_key(label: str, check: CheckSpec, mode: str, p: ad.FlatProblem) -> tuple[Any, ...]:
    """An AD Hessian/Jacobian computed for one check is reused by an eigenvalue check at the same point."""
    return (label, check.target, check.wrt, mode, p.z0.numpy(force=True).tobytes())


def _se_number(v: Any) -> Any:
    import symengine as se

    return se.S(v)


def _kink_name(k: sym.Kink) -> str:
    node = k.node
    name = {sp.Abs: "abs", sp.sign: "sign", sp.Max: "max", sp.Min: "min"}.get(type(node), str(type(node)))
    if isinstance(node, sp.Max) and len(node.args) == 2 and any(a == 0 for a in node.args):
        return f"relu({k.right})" if k.left == 0 else f"max({', '.join(map(str, node.args))})"
    return f"{name}({', '.join(map(str, node.args))})"

"""The exact reference for one check: symbolic derivatives of a problem, evaluated exactly at a point.

Every input element is a symbol; derivatives are taken once (the Hessian from the gradient)
and evaluated at the exact binary value of each input (``Rational(float)``, by ``xreplace``).
At a kink the reference carries both one-sided values instead of one number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
import torch

from . import _autodiff as ad
from . import _derivatives
from . import _exact as exact
from . import _symbolic as sym
from ._compare import tolerance_for
from ._interpret import evaluate
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

class ExactReference:
    """Symbolic derivatives of one problem, cached across checks and points."""

    def __init__(self, problem: Problem, values: Callable[[], dict[str, torch.Tensor]]) -> None:
        self.problem = problem
        self._values = values          # the problem's own point (inputs and constants), as tensors
        self.dtype_name = problem.dtype
        self.dtype = ad.DTYPES[problem.dtype]
        self._matrices: dict[Any, np.ndarray] = {}   # evaluated reference matrices, by point
        self._model: sym.SymbolicModel | None = None

    @property
    def model(self) -> sym.SymbolicModel:
        if self._model is None:
            p = self.problem
            shapes = {n: s.shape for n, s in p.inputs.items()}
            consts = {n: v.detach().to(torch.float64).numpy() for n, v in self._values().items()
                      if n in p.constants}
            self._model = sym.SymbolicModel(p.define, shapes, consts)
        return self._model

    def point(self, values: dict[str, torch.Tensor], cut: Iterable[str] = ()) -> dict[Any, Any]:
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
        point = self.point(values, cut)
        target, syms = self._target(check, values)
        # perf (issue 11): a SymEngine Hessian as numbers from its chain-rule structure, else entry-wise.
        fast = _derivatives.hessian_values(self.model, check, target, syms, point)
        exprs, shape = fast or self._derive(check, target, syms, point, cache=True)
        symmetric = target.size == 1  # eigenvalues of a Hessian; a vector target has a Jacobian
        kinks = self.model.ops.kinks
        hit = [] if check.kind == "value" or not kinks else sym.kinks_hit(kinks, point, sp.Tuple(*target.flat),
                                                                           syms)
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
        fwd = ad.forward(self.problem.define, self._values(), self.dtype, until=name)
        return tuple(fwd[name].shape)

def _se_number(v: Any) -> Any:
    import symengine as se

    return se.S(v)


def _kink_name(k: sym.Kink) -> str:
    if k.label:
        return k.label
    node = k.node
    name = {sp.Abs: "abs", sp.sign: "sign", sp.Max: "max", sp.Min: "min"}.get(type(node), str(type(node)))
    if isinstance(node, sp.Max) and len(node.args) == 2 and any(a == 0 for a in node.args):
        return f"relu({k.right})" if k.left == 0 else f"max({', '.join(map(str, node.args))})"
    return f"{name}({', '.join(map(str, node.args))})"

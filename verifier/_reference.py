"""The exact reference for one check: symbolic derivatives of a problem, evaluated exactly at a point.

Every input element is a symbol; derivatives are taken once (the Hessian from the gradient)
and evaluated at the exact binary value of each input (``Rational(float)``, by ``xreplace``).
At a kink the reference carries both one-sided values instead of one number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import sympy as sp
import torch

from . import _autodiff as ad
from . import _derivatives, _eigen, _models, _rounding, _sides
from . import _exact as exact
from . import _symbolic as sym
from ._compare import tolerance_for
from ._interpret import evaluate
from ._kinkref import KinkReferences, _replace_all
from ._refvalue import Reference
from ._spec import CheckSpec, Problem

MAX_ENTRIES = 1_000_000  # symbolic derivative entries per check (a 1000 x 1000 Hessian)


class ExactReference(KinkReferences):
    """Symbolic derivatives of one problem, cached across checks and points."""

    def __init__(self, problem: Problem, values: Callable[[], dict[str, torch.Tensor]]) -> None:
        self.problem = problem
        self._values = values          # the problem's own point (inputs and constants), as tensors
        self.dtype_name = problem.dtype
        self.dtype = ad.DTYPES[problem.dtype]
        self._matrices: dict[Any, np.ndarray] = {}   # evaluated reference matrices, by point
        self._model: sym.SymbolicModel | None = None

    @property
    def by_tolerance(self) -> bool:
        """Whether torch computes some function here by another algorithm than its formula
        (``_rounding.OTHER_ALGORITHM``: det and inv by LU, ...): the default tolerance judges."""
        if "_by_tolerance" not in self.__dict__:
            self.__dict__["_by_tolerance"] = sym.uses(self.problem.define.values(), _rounding.OTHER_ALGORITHM)
        return bool(self.__dict__["_by_tolerance"])

    @property
    def from_output(self) -> bool:
        """Whether a function here has a torch backward that starts from its rounded output
        (``_models.FROM_OUTPUT``: expm1, sigmoid, silu, ...): its bounds charge that rounding."""
        if "_from_output" not in self.__dict__:
            self.__dict__["_from_output"] = sym.uses(self.problem.define.values(), _models.FROM_OUTPUT)
        return bool(self.__dict__["_from_output"])

    @property
    def model(self) -> sym.SymbolicModel:
        if self._model is None:
            p = self.problem
            shapes = {n: s.shape for n, s in p.inputs.items()}
            consts = {n: v.detach().to(torch.float64).numpy() for n, v in self._values().items()
                      if n in p.constants}
            self._model = sym.SymbolicModel(p.define, shapes, consts, literal_dtype=p.dtype)
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

    def defined_at(self, values: dict[str, torch.Tensor]) -> bool:
        """Whether every define's exact value exists at ``values`` (directly or as a two-sided limit)."""
        try:
            point = self.point(values)
            env = self.model.env()
            for name in self.problem.define:
                limits: dict[int, Any] = {}
                exact.evaluate_exact(list(np.asarray(env[name], dtype=object).flat), point, limits=limits)
                if any(not lim.two_sided for lim in limits.values()):
                    return False
        except (exact.DomainError, ValueError, TypeError, KeyError):
            return False
        return True

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

        grad, fsyms = self._gradient(check, target, syms, cache)
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

    def _gradient(self, check: CheckSpec, target: np.ndarray, syms: list[Any],
                  cache: bool = True) -> tuple[list[Any], list[Any]]:
        """The symbolic gradient of a scalar target and the symbols it is in (SymEngine's when cached)."""
        se = sym.accelerator() if cache else None  # kink branches stay in SymPy

        def build_grad() -> tuple[list[Any], list[Any]]:
            (t,), fsyms = sym.fast([target.flat[0]], syms, se)
            return sym.gradient(t, fsyms), fsyms
        if not cache:
            return build_grad()
        return self.model.cached(("grad", check.target, check.wrt), build_grad)

    def _hessian_entry(self, check: CheckSpec, target: np.ndarray, syms: list[Any]) -> Callable[[int], Any]:
        """Entry k (row-major) of the symbolic Hessian, differentiated on its own when asked for."""
        n = len(syms)

        def entry(k: int) -> Any:
            grad, fsyms = self._gradient(check, target, syms)
            i, j = divmod(k, n)
            return grad[i].diff(fsyms[j])
        return entry

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
        zero_powers = _sides.zero_powers(target, point)
        if zero_powers:  # 0**b is 0 wherever b > 0: a constant there, whose derivative is 0
            target = sym.emap(lambda e: e.xreplace(zero_powers), target)
        # perf (issue 11): a SymEngine Hessian as numbers from its chain-rule structure, else entry-wise.
        fast = None if zero_powers else _derivatives.structured_values(
            self.model, check, target, point, lambda: self._gradient(check, target, syms))
        symbolic: _derivatives.Deferred | None = None
        shape: tuple[int, ...]
        if fast is not None:
            exprs, shape = fast
            # The rounding bound of an entry needs its expression: derived only if ever asked for.
            symbolic = _derivatives.Deferred(self._hessian_entry(check, target, syms), len(exprs),
                                             _derivatives.structure_of(self.model, check))
        else:
            exprs, shape = self._derive(check, target, syms, point, cache=not zero_powers)
        symmetric = target.size == 1  # eigenvalues of a Hessian; a vector target has a Jacobian
        kinks = self.model.ops.kinks
        if check.kind != "value" and self.model.lib is sp:
            kinks = kinks + _sides.implicit_kinks(target, kinks)
        hit = [] if check.kind == "value" or not kinks else sym.kinks_hit(kinks, point, sp.Tuple(*target.flat),
                                                                           syms)
        if hit:
            return self._at_kinks(check, hit, target, syms, shape, point, symmetric)
        active = _sides.active_branches(target, point) if kinks and check.kind != "value" else {}
        if active:  # away from every switch only the branch in use counts (max(norm(x), eps) at 0)
            target = sym.emap(lambda e: _replace_all(e, active), target)
            exprs, shape = self._derive(check, target, syms, point, cache=False)
            symbolic = None
        try:
            ref = self._evaluate(check, exprs, shape, point, symmetric, symbolic=symbolic,
                                 partials=_partials(check, target, syms, len(exprs)))
        except exact.DomainError:
            if self.model.lib is not sp and check.kind != "value":
                # SymEngine keeps sqrt(u**2) (norm of one element) where SymPy, with real symbols,
                # has |u|, a kink: judge the same function the same way however it is written.
                again = self._in_sympy(check, target, syms, shape, point, symmetric)
                if again is not None:
                    return again
            if check.kind in ("hessian", "hvp", "eigenvalues") and target.size == 1:
                # Undefined second derivatives where the gradient is at a cone point (norm at 0):
                # nondifferentiable, as at a kink, rather than an error.
                blank = np.zeros(shape[:1] if check.kind in ("hvp", "eigenvalues") else shape)
                cone = self._lower_orders(check, Reference(check.kind, blank), target, syms, point)
                if cone.status == "nondifferentiable":
                    return cone
            raise
        if ref.via_limit and check.kind != "value":
            return self._lower_orders(check, ref, target, syms, point)
        if isinstance(ref.bound, _rounding.LazyBound) and check.kind != "value" and sym.uses(
                self.problem.define.values(), _rounding.LINALG):  # LU: see _rounding.LINALG
            ref.bound.normwise = 4.0 * ref.bound.values.size
        if check.kind in ("hessian", "eigenvalues") and target.size == 1 and ref.bound is not None and sym.uses(
                self.problem.define.values(), _rounding.QUOTIENT):  # torch divides: see quotient_scale
            ref.bound.quotient = lambda: (exact.evaluate_exact(self._gradient(check, target, syms)[0], point),
                                          float(exact.evaluate_exact([target.flat[0]], point)[0]))
        return ref

    def _evaluate(self, check: CheckSpec, exprs: list[Any], shape: tuple[int, ...],
                  point: dict[Any, Any], symmetric: bool, reuse: bool = True,
                  symbolic: Sequence[Any] | None = None,
                  partials: list[tuple[Any, Any]] | None = None) -> Reference:
        # ``symbolic``: the entries' expressions when ``exprs`` are already numbers (for rounding bounds).
        # A Hessian (or Jacobian) evaluated for one check is reused by an eigenvalue check
        # of the same target at the same point.
        label = {"hessian": "hess", "jacobian": "jac"}.get(check.kind) or ("hess" if symmetric else "jac")
        key = (label, check.target, check.wrt, frozenset(point.items())) if reuse else None
        if check.kind != "eigenvalues":
            limits: dict[int, Any] = {}
            order = [str(k) for k in point]
            enc = exact.evaluate_enclosed(exprs, point, bits=self.model.bits, limits=limits, order=order,
                                          partials=partials)
            vals = enc.values
            out_shape = (self._wrt_shape(check.wrt[0]) if check.kind == "gradient" and len(check.wrt) == 1
                         else shape)
            bound = _rounding.LazyBound(symbolic or list(exprs), point, self.dtype_name, vals.reshape(out_shape),
                                        self.from_output)
            if self.by_tolerance:
                bound.default.update(range(len(exprs)))
            if limits:
                # A one-sided limit's rounding is not modelled: the default judges. A two-sided one is the
                # value; its formula is walked where the float walk is defined (not at a removable 0/0).
                bound.default.update(i for i, lim in limits.items() if not lim.two_sided)
                ref = self._limit_reference(check, vals, limits, bound, out_shape)
                ref.certified = enc.how
                if ref.status == "ok":
                    ref.radius = enc.radius.reshape(out_shape)
                return ref
            vals = vals.reshape(shape)
            if key is not None and check.kind in ("hessian", "jacobian"):
                self._matrices[key] = vals
            return Reference(check.kind, vals.reshape(out_shape), bound=bound,
                             radius=enc.radius.reshape(out_shape), certified=enc.how)
        n = shape[1]
        tol = tolerance_for(self.dtype_name, self.problem.tolerance, check.tolerance)
        enc, matrix = _eigen.eigen_enclosed(exprs, n, point, symmetric, rtol=tol["rtol"], atol=tol["atol"],
                                           matrix=self._matrices.get(key) if key else None, bits=self.model.bits)
        eig = enc.values
        ref = Reference(check.kind, eig, matrix=matrix, symmetric=symmetric, radius=enc.radius,
                        certified=enc.how)
        if not self.by_tolerance:
            ref.bound = _rounding.LazyEigenBound(symbolic or exprs, point, self.dtype_name, ref.norm, n, eig.shape,
                                                 self.from_output)
        return ref

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


def _partials(check: CheckSpec, target: np.ndarray, syms: list[Any], n: int) -> list[tuple[Any, Any]] | None:
    """(f, x) for each entry of a gradient or Jacobian (entry (k, i) is d target_k / d x_i, row-major),
    so that an entry whose formula is undefined can be taken by the definition of the derivative."""
    if check.kind not in ("gradient", "jacobian") or n != target.size * len(syms):
        return None
    return [(f, x) for f in target.flat for x in syms]

"""The exact reference for one check: symbolic derivatives of a problem, evaluated exactly at a point.

Every input element is a symbol; derivatives are taken once (the Hessian from the gradient)
and evaluated at the exact binary value of each input (``Rational(float)``, by ``xreplace``).
At a kink the reference carries both one-sided values instead of one number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
import torch

from . import _autodiff as ad
from . import _derivatives, _models, _rounding, _sides
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
    lower: np.ndarray | None = None   # at a kink: the elementwise range a subgradient must lie in
    upper: np.ndarray | None = None
    vertices: list[np.ndarray] | None = None   # at a kink: the branches' values, whose hull holds the subgradients
    bound: Any = None                 # each element's rounding bound (nan: none): array or LazyBound
    via_limit: bool = False           # some entry is a limit (its direct value was undefined)
    matrix: np.ndarray | None = None
    symmetric: bool = True
    radius: np.ndarray | None = None  # |exact - values| <= radius (float64; nan: not certified), as values
    certified: str = ""               # exact | certified to N digits | how it was found, if not certified

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

    def _in_sympy(self, check: CheckSpec, target: np.ndarray, syms: list[Any], shape: tuple[int, ...],
                  point: dict[Any, Any], symmetric: bool) -> Reference | None:
        """The reference rebuilt in SymPy with real symbols, where that makes a kink explicit
        (``sqrt(x**2*y**2)`` is ``Abs(x)*Abs(y)``) or removes the singularity (``sqrt(x**4)`` is
        ``x**2``); None when SymPy's form is the same tree (nothing to gain)."""
        real = {n: sp.Symbol(str(n), real=True) for n in point}
        plain = {sp.Symbol(str(n)): r for n, r in real.items()}
        back = {r: p for p, r in plain.items()}
        conv = [exact.to_sympy(e) for e in target.flat]
        flat = [c.xreplace(plain) for c in conv]  # rebuilt: SymPy's own rules for real symbols apply
        if all(f.xreplace(back) == c for f, c in zip(flat, conv)):
            return None
        t = np.array(flat, dtype=object).reshape(target.shape)
        sp_syms = [real[s] for s in syms]
        sp_point = {real[k]: v for k, v in point.items()}
        try:
            kinks = _sides.implicit_kinks(t, [])
            hit = sym.kinks_hit(kinks, sp_point, sp.Tuple(*t.flat), sp_syms) if kinks else []
            if hit:
                return self._at_kinks(check, hit, t, sp_syms, shape, sp_point, symmetric)
            exprs, shape = self._derive(check, t, sp_syms, sp_point, cache=False)
            return self._evaluate(check, exprs, shape, sp_point, symmetric, reuse=False)
        except exact.DomainError:
            return None

    def _lower_orders(self, check: CheckSpec, ref: Reference, target: np.ndarray, syms: list[Any],
                      point: dict[Any, Any]) -> Reference:
        """A derivative found as a limit is the derivative only where the function is continuous
        (and, for a second derivative, where the gradient exists): check the lower orders."""
        def sided(exprs: list[Any]) -> bool:
            limits: dict[int, Any] = {}
            exact.evaluate_exact(exprs, point, limits=limits, order=[str(k) for k in point])
            return any(not lim.two_sided for lim in limits.values())

        try:
            if sided(list(target.flat)):
                raise exact.DomainError("not defined at this point: the function has no limit here (a jump)")
            if check.kind in ("hessian", "hvp", "eigenvalues") and target.size == 1:
                t = target.flat[0]
                if sided([t.diff(s) for s in syms]):
                    return Reference(check.kind, ref.values, status="nondifferentiable", left=ref.values,
                                     right=ref.values, message="not differentiable at this point: the "
                                     "gradient is at a cone point (its limit depends on the direction)")
        except exact.DomainError as exc:
            if "jump" in str(exc):
                raise
            raise exact.DomainError(f"not defined at this point: a lower derivative is undefined ({exc})") \
                from None
        return ref

    def _at_kinks(self, check: CheckSpec, hit: list[sym.Kink], target: np.ndarray, syms: list[Any],
                  shape: tuple[int, ...], point: dict[Any, Any], symmetric: bool) -> Reference:
        """The reference where kinks are hit: one-sided values by the side of the point, and the
        elementwise range of every branch combination, which a subgradient must lie in."""
        sides = _sides.sides(hit, point, syms)

        def side(mapping: dict[Any, Any]) -> Reference:
            t_side = sym.emap(lambda e: _replace_all(e, mapping), target)
            ex, _ = self._derive(check, t_side, syms, point, cache=False)
            return self._evaluate(check, ex, shape, point, symmetric, reuse=False)

        jump = any(k.discontinuous for k in hit)
        try:
            left = side(sides.left)
            if not sides.crossing and not jump:  # branches that touch without crossing: no kink
                return left
            right = side(sides.right) if sides.right != sides.left else left
        except exact.DomainError:
            if not jump:
                raise
            what = ", ".join(sorted({_sides.kink_name(k) for k in hit}))  # a jump: no one-sided values
            return Reference(check.kind, np.full(shape, np.nan), status="nondifferentiable",
                             message=f"not differentiable at this point: {what} is discontinuous here")
        same = left.values.shape == right.values.shape and np.array_equal(left.values, right.values)
        first_exists = True
        second = check.kind in ("hessian", "hvp", "eigenvalues") and target.size == 1
        if second:
            # A second derivative exists only where the first does: compare the branches' gradients.
            grads = [exact.evaluate_exact(sym.gradient(_replace_all(target.flat[0], m), syms), point)
                     for m in (sides.left, sides.right)]
            first_exists = np.array_equal(grads[0], grads[1])
            same = same and first_exists
        others = []
        if same and not jump:
            # Left and right agree along the direction taken; every other combination of the
            # branches must agree too (|x| |y| at 0: its mixed partial is +1 or -1 by quadrant).
            others = [side(m).values for m in sides.combinations if m not in (sides.left, sides.right)]
            if all(o.shape == left.values.shape and np.array_equal(o, left.values) for o in others):
                return left
            same = False
        lower = upper = vertices = None
        if first_exists and not jump and not second:
            # Only where the function is continuous is there a subgradient to judge. A second
            # derivative whose branches differ is the derivative of a gradient with a kink here
            # (min(x, y)**2 at 0): it has no value, and none to judge (README).
            values = [left.values, right.values] + [side(m).values for m in sides.combinations
                                                    if m not in (sides.left, sides.right)]
            lower, upper = _sides.hull(values, check.kind == "eigenvalues")
            vertices = values if check.kind != "eigenvalues" and _separate(hit) else None
        what = ", ".join(sorted({_sides.kink_name(k) for k in hit}))
        along = (f" (one-sided along {sides.direction}: left is {sides.direction} - h, right "
                 f"{sides.direction} + h, h -> 0+)" if sides.direction else "")
        message = (f"not differentiable at this point: {what} is at its kink; left and right values differ"
                   + along if not same else f"not differentiable at this point: {what} is discontinuous here")
        if second and first_exists and not jump:
            message = (f"not differentiable at this point: the gradient has a kink here ({what} is at its "
                       f"kink; the branches' second derivatives differ{along})")
        lb, rb = _full(left.bound), _full(right.bound)
        bound = np.fmax(lb, rb) if lb is not None and rb is not None and lb.shape == rb.shape else None
        if bound is not None and lb is not None and rb is not None and (np.isnan(lb).any() or np.isnan(rb).any()):
            bound = np.where(np.isnan(lb) | np.isnan(rb), np.nan, bound)
        return Reference(check.kind, left.values, status="nondifferentiable", left=left.values,
                         right=right.values, lower=lower, upper=upper, vertices=vertices, message=message,
                         matrix=left.matrix, symmetric=symmetric, bound=bound)

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
        enc, matrix = exact.eigen_enclosed(exprs, n, point, symmetric, rtol=tol["rtol"], atol=tol["atol"],
                                           matrix=self._matrices.get(key) if key else None, bits=self.model.bits)
        eig = enc.values
        ref = Reference(check.kind, eig, matrix=matrix, symmetric=symmetric, radius=enc.radius,
                        certified=enc.how)
        if not self.by_tolerance:
            ref.bound = _rounding.LazyEigenBound(symbolic or exprs, point, self.dtype_name, ref.norm, n, eig.shape,
                                                 self.from_output)
        return ref

    def _limit_reference(self, check: CheckSpec, vals: np.ndarray, limits: dict[int, Any],
                         bound: _rounding.LazyBound, shape: tuple[int, ...]) -> Reference:
        """Entries whose direct value is undefined got their limit. Two-sided limits are the
        value (a removable singularity); one-sided ones make a cone point: nondifferentiable,
        with left and right along the element named, and every limit found in the range."""
        sided = {i: lim for i, lim in limits.items() if not lim.two_sided}
        if not sided:
            return Reference(check.kind, vals.reshape(shape), bound=bound, via_limit=True)
        left, right = vals.copy(), vals.copy()
        lower, upper = vals.copy(), vals.copy()
        for i, lim in sided.items():
            found = [float(exact.high_precision(v).real) for v in [lim.left, lim.right, *lim.others]]
            right[i] = found[1]
            lower[i], upper[i] = min(found), max(found)
        direction = next(iter(sided.values())).direction
        message = (f"not differentiable at this point: a cone point (a limit that depends on the direction); "
                   f"left and right values differ (one-sided along {direction}: left is {direction} - h, "
                   f"right {direction} + h, h -> 0+)")
        return Reference(check.kind, left.reshape(shape), status="nondifferentiable", message=message,
                         left=left.reshape(shape), right=right.reshape(shape), lower=lower.reshape(shape),
                         upper=upper.reshape(shape), bound=bound.full(), via_limit=True)

    def _wrt_shape(self, name: str) -> tuple[int, ...]:
        if name in self.problem.inputs:
            return self.problem.inputs[name].shape
        return tuple(self._cut_shape(name))

    def _cut_shape(self, name: str) -> tuple[int, ...]:
        fwd = ad.forward(self.problem.define, self._values(), self.dtype, until=name)
        return tuple(fwd[name].shape)

def _full(bound: Any) -> np.ndarray | None:
    return bound.full() if isinstance(bound, (_rounding.LazyBound, _rounding.LazyEigenBound)) else bound


def _se_number(v: Any) -> Any:
    import symengine as se

    return se.S(v)


def _replace_all(e: Any, mapping: dict[Any, Any]) -> Any:
    """``e`` with every kink node replaced by its branch, also the kinks nested inside a branch
    put in (``min(abs(x), abs(y))`` -> ``abs(x)`` -> ``-x``): ``xreplace`` does not look inside
    what it puts in."""
    for _ in range(len(mapping) + 1):
        new = e.xreplace(mapping)
        if new == e:
            break
        e = new
    return e


def _separate(hit: list[Any]) -> bool:
    """Whether the branch combinations are every active branch: no kink inside another's
    arguments (there a branch can keep a kink, read as its midpoint) and few enough to enumerate."""
    import sympy as sp

    kinky = (sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign, sp.Piecewise)
    return len(hit) <= 6 and not any(arg.has(*kinky) for k in hit for arg in getattr(k.node, "args", ()))


def _partials(check: CheckSpec, target: np.ndarray, syms: list[Any], n: int) -> list[tuple[Any, Any]] | None:
    """(f, x) for each entry of a gradient or Jacobian (entry (k, i) is d target_k / d x_i, row-major),
    so that an entry whose formula is undefined can be taken by the definition of the derivative."""
    if check.kind not in ("gradient", "jacobian") or n != target.size * len(syms):
        return None
    return [(f, x) for f in target.flat for x in syms]

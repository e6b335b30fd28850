"""The reference where direct evaluation is not the answer: at kinks, limits, and in SymPy.

``KinkReferences`` is the half of ``ExactReference`` that handles a point on a kink (one-sided
values, every branch combination, the subgradient hull), an entry that is a one-sided limit
(a cone point), the lower derivatives a second-order check needs to exist, and the retry in
SymPy where SymEngine's form of a function is undefined (``sqrt(u**2)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from . import _exact as exact
from . import _rounding, _sides
from . import _symbolic as sym
from ._refvalue import Reference
from ._spec import CheckSpec


class KinkReferences:
    """Mixed into ``ExactReference``, whose ``_derive`` and ``_evaluate`` it uses."""

    if TYPE_CHECKING:  # provided by ExactReference
        def _derive(self, check: CheckSpec, target: np.ndarray, syms: list[Any], point: dict[Any, Any],
                    cache: bool) -> tuple[list[Any], tuple[int, ...]]: ...

        def _evaluate(self, check: CheckSpec, exprs: list[Any], shape: tuple[int, ...],
                      point: dict[Any, Any], symmetric: bool, reuse: bool = True,
                      symbolic: Sequence[Any] | None = None,
                      partials: list[tuple[Any, Any]] | None = None) -> Reference: ...

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
            jumped = Reference(check.kind, np.full(shape, np.nan), status="nondifferentiable",
                               message=f"not differentiable at this point: {what} is discontinuous here")
            return self._off_the_jump(check, hit, target, syms, shape, point, symmetric, jumped)
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
        mixed = [] if sides.along_one else [m for m in sides.combinations if m not in (sides.left, sides.right)]
        if same and not jump:
            # Left and right agree along the direction taken; every other combination of the
            # branches must agree too (|x| |y| at 0: its mixed partial is +1 or -1 by quadrant).
            others = [side(m).values for m in mixed]
            if all(o.shape == left.values.shape and np.array_equal(o, left.values) for o in others):
                return left
            same = False
        lower = upper = vertices = None
        if first_exists and not jump and not second:
            # Only where the function is continuous is there a subgradient to judge. A second
            # derivative whose branches differ is the derivative of a gradient with a kink here
            # (min(x, y)**2 at 0): it has no value, and none to judge (README).
            values = [left.values, right.values] + [side(m).values for m in mixed]
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
        out = Reference(check.kind, left.values, status="nondifferentiable", left=left.values,
                        right=right.values, lower=lower, upper=upper, vertices=vertices, message=message,
                        matrix=left.matrix, symmetric=symmetric, bound=bound)
        return self._off_the_jump(check, hit, target, syms, shape, point, symmetric, out) if jump else out

    def _off_the_jump(self, check: CheckSpec, hit: list[sym.Kink], target: np.ndarray, syms: list[Any],
                      shape: tuple[int, ...], point: dict[Any, Any], symmetric: bool,
                      jumped: Reference) -> Reference:
        """At a jump, the entries that are partial derivatives along variables no kink hit here
        depends on: the function is continuous along those, so each exists (redteam2 O3, a jump
        in element 1 of ``where(x > 2, log2(x), 2 x)`` does not make d/dx_0 undefined) and is the
        derivative of the branch in use at the point. They are judged (``lower = upper`` the
        exact value); every other entry gets the range (-inf, inf). Gradient, Jacobian and Hessian
        only (an HVP or an eigenvalue mixes every entry); ``jumped`` unchanged when none exist."""
        if check.kind not in ("gradient", "jacobian", "hessian"):
            return jumped
        moved = {s for k in hit for e in k.switch for s in getattr(e, "free_symbols", ())}
        free = np.array([s not in moved for s in syms])
        if check.kind == "gradient":
            judged = free
        elif check.kind == "jacobian":
            judged = np.tile(free, target.size)
        else:
            judged = np.outer(free, free).reshape(-1)
        if not judged.any() or judged.size != int(np.prod(shape)):
            return jumped
        try:
            exprs, _ = self._derive(check, target, syms, point, cache=False)
            kept = [e if j else sp.Integer(0) for e, j in zip(exprs, judged)]
            ref = self._evaluate(check, kept, shape, point, symmetric, reuse=False)
        except exact.DomainError:
            return jumped
        mask = judged.reshape(np.shape(ref.values))
        values = np.asarray(ref.values, dtype=np.float64)
        bound = _full(ref.bound)
        if bound is not None:
            bound = np.where(mask, np.broadcast_to(bound, mask.shape), np.nan)
        return Reference(check.kind, values, status="nondifferentiable", left=jumped.left, right=jumped.right,
                         lower=np.where(mask, values, -np.inf), upper=np.where(mask, values, np.inf),
                         judged=mask, bound=bound, matrix=ref.matrix, symmetric=symmetric,
                         message=jumped.message + (
                             f"; the {int(mask.sum())} entries along variables the jump does not depend on "
                             "exist and are judged" if mask.sum() > 1 else "; the entry along a variable the "
                             "jump does not depend on exists and is judged"))

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


def _full(bound: Any) -> np.ndarray | None:
    return bound.full() if isinstance(bound, (_rounding.LazyBound, _rounding.LazyEigenBound)) else bound


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

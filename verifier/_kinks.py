"""Where a non-smooth function is used and whether a point sits on its switch.

``SymOps`` records a ``Kink`` for every non-smooth function it builds (abs, sign, relu, max,
min, and the piecewise functions of ``_symfunctions``: where, clamp, ...). At a point,
``kinks_hit`` keeps the kinks whose switch is exactly there, decided exactly (1e-300 is not 0):
a switch that only touches zero takes its one branch on both sides, a switch of inputs not
differentiated is no kink, and a jump in the value makes the kink discontinuous.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import reduce
from typing import Any

import sympy as sp


@dataclass
class Kink:
    """A place where a non-smooth function is used: its smooth branches and its switch."""

    node: Any            # the expression produced (Abs(u), Max(a, b), sign(u), ...)
    switch: list[Any]    # the values that must all be equal (or zero) for the kink to be hit
    left: Any            # the branch used where the switch is negative (switch[0] < switch[1])
    right: Any           # and where it is positive
    discontinuous: bool = False
    relation: Any = None  # for where(): (comparison, its truth at left, its truth at right)
    label: str = ""       # how a report names it: "clamp(x[0]) at its lower bound 0"


def is_zero_at(values: Sequence[Any], point: dict[Any, Any]) -> bool:
    """True when all ``values`` are equal at ``point`` (for one value: when it is zero)."""
    vals = [v.xreplace(point) for v in values]  # SymPy expressions built by SymOps, never text
    if len(vals) == 1:
        vals = [vals[0], sp.Integer(0)]
    first = vals[0]
    return all(_exactly_zero(v - first) for v in vals[1:])


def _exactly_zero(d: Any) -> bool:
    """Exact for rational values (1e-300 is not 0); 60 digits for transcendental ones."""
    z = d.is_zero
    if z is not None:
        return bool(z)
    return sp.N(d, 60) == 0


def kinks_hit(kinks: list[Kink], point: dict[Any, Any], within: Any, wrt: Sequence[Any] | None = None
              ) -> list[Kink]:
    """The kinks used by ``within`` whose switch is exactly at ``point`` and moves with ``wrt`` (the
    symbols differentiated; all when None): a switch of other inputs only is no kink there."""
    if not kinks:
        return []
    used = [k for k in kinks if within.has(k.node)]
    moving = None if wrt is None else set(wrt)
    out = [_at_point(k, point, moving) for k in _merged([k for k in used if _tied(k, point)])]
    return [k for k in out if k is not None]


def _merged(hit: list[Kink]) -> list[Kink]:
    """where()s whose several comparisons are at their switch together: one kink per node, each side
    with every such comparison taken as it is on that side."""
    out: list[Kink] = []
    for k in hit:
        same = next((o for o in out if o.relation is not None and k.relation is not None and o.node == k.node),
                    None)
        if same is None:
            out.append(k)
            continue
        rels = same.relation if isinstance(same.relation, list) else [same.relation]
        rels = rels + [k.relation]
        left = k.node.xreplace({r: sp.S(neg) for r, neg, _ in rels})
        right = k.node.xreplace({r: sp.S(pos) for r, _, pos in rels})
        out[out.index(same)] = replace(same, left=left, right=right, relation=rels)
    return out


def _at_point(k: Kink, point: dict[Any, Any], wrt: set[Any] | None) -> Kink | None:
    """The kink as it is at ``point``: a switch that touches zero without crossing uses the branch of
    its one side on both sides; a jump (sides or the value itself disagree) is discontinuous."""
    if k.left is None:
        return k
    s = k.switch[0] if len(k.switch) == 1 else k.switch[0] - k.switch[1]
    sides = _sides(s, point, wrt)
    if not sides:
        return None
    left, right = k.left, k.right
    if sides == {1}:
        left = right
    elif sides == {-1}:
        right = left
    elif _decreasing(s, point, wrt):  # left of the point (the inputs decreasing) the switch is positive
        left, right = right, left
    values = [_value(v, point, wrt) for v in (k.node, left, right)]
    jump = k.discontinuous or not all(_exactly_zero(v - values[0]) for v in values[1:])
    return replace(k, left=left, right=right, discontinuous=jump)


def _value(v: Any, point: dict[Any, Any], wrt: set[Any] | None) -> Any:
    """A branch's value at the point; where it is 0/0 there (``sin(x)/x`` as the branch that
    ``where(x == 0, 1, sin(x)/x)`` takes on both sides), its limit in the one input that moves."""
    if not isinstance(v, sp.Basic):
        return sp.Integer(v)
    out = v.xreplace(point)
    if not out.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or sp.count_ops(v) > 200:
        return out
    moving = [s for s in v.free_symbols if wrt is None or s in wrt]
    if len(moving) != 1:
        return out
    (x,) = moving
    try:
        return sp.limit(v.xreplace({s: val for s, val in point.items() if s != x}), x, point[x])
    except (NotImplementedError, ValueError):
        return out


def _decreasing(s: Any, point: dict[Any, Any], wrt: set[Any] | None) -> bool:
    """Whether the switch falls as the inputs it moves with grow: its nonzero partial derivatives
    there are all negative (``relu(-x)``, ``max(0, x)``). Then ``left``, by the side of the point,
    is the branch where the switch is positive. With mixed signs (``x - y``) the switch's own
    orientation stays: ``left`` is where it is negative."""
    free: set[Any] = set(getattr(s, "free_symbols", set()))
    grads = [s.diff(v).xreplace(point) for v in sorted(free if wrt is None else free & wrt, key=str)]
    signs = {_sign(g) for g in grads if not _exactly_zero(g)}
    return signs == {-1}


def _sides(s: Any, point: dict[Any, Any], wrt: set[Any] | None, order: int = 8) -> set[int]:
    """The signs a switch ``s`` (zero at ``point``) takes near it: {-1, 1} where it crosses zero.

    Crosses where its gradient is not zero; in one variable, by the parity and sign of its first
    nonzero derivative; otherwise (a zero gradient in several variables) it is taken as crossing.
    Only the ``wrt`` symbols move: a switch of none of them has no sides (the empty set).
    """
    free: set[Any] = set(getattr(s, "free_symbols", set()))
    syms = sorted(free if wrt is None else free & wrt, key=str)
    if not syms:
        return set() if free else {-1, 1}
    if any(not _exactly_zero(s.diff(v).xreplace(point)) for v in syms):
        return {-1, 1}
    if len(syms) > 1:
        return {-1, 1}
    for k in range(2, order + 1):
        val = sp.diff(s, syms[0], k).xreplace(point)
        if not _exactly_zero(val):
            sign = _sign(val)
            return {-1, 1} if k % 2 or sign is None else {sign}
    return {-1, 1}


def _sign(value: Any) -> int | None:
    """The sign of an exact number; None when it is not one (``DiracDelta(0)``: the switch has a
    kink of its own there, as ``abs(x)`` inside ``sign(abs(x))``)."""
    n = sp.N(value, 30)
    if not (n.is_real and n.is_number) or n.has(sp.DiracDelta):
        return None
    return 1 if n > 0 else -1


def _tied(k: Kink, point: dict[Any, Any]) -> bool:
    if k.left is None:  # an n-ary max/min: hit when the extreme is attained twice
        vals = [v.xreplace(point) for v in k.switch]
        best = max(vals, key=lambda z: float(z)) if isinstance(k.node, sp.Max) else min(vals, key=float)
        return sum(1 for v in vals if _exactly_zero(v - best)) > 1
    return is_zero_at(k.switch, point)


def branches(k: Kink, point: dict[Any, Any]) -> tuple[Any, Any]:
    if k.left is not None:
        return k.left, k.right
    vals = [v.xreplace(point) for v in k.switch]
    best = reduce(lambda a, b: a if (a >= b) == isinstance(k.node, sp.Max) else b, vals)
    tied = [e for e, v in zip(k.switch, vals) if _exactly_zero(v - best)]
    return tied[0], tied[-1]


def tied(k: Kink, point: dict[Any, Any]) -> tuple[Any, ...]:
    """Every argument of an n-ary max/min that attains it at the point (its active branches)."""
    if k.left is not None:
        return k.left, k.right
    vals = [v.xreplace(point) for v in k.switch]
    best = reduce(lambda a, b: a if (a >= b) == isinstance(k.node, sp.Max) else b, vals)
    return tuple(e for e, v in zip(k.switch, vals) if _exactly_zero(v - best))

"""Kinks hit exactly at the point (``_kinks.kinks_hit``): which branch each side of the point uses.

A kink (``abs(u)``, ``relu(u)``, ``max(a, b)``, ...) records its switch ``s`` (``u``, or
``a - b``) and its branches, ``left`` where ``s < 0`` and ``right`` where ``s > 0``. At the
point ``s = 0``; which branch each side uses depends on how ``s`` moves along the direction
of approach, not on the order of the arguments. Along the input element ``x_k`` the leading
Taylor term of ``s(p + h e_k)`` is ``c h**m``:

- ``m`` odd: ``s`` crosses zero; for ``h < 0`` it has the sign of ``-c``, for ``h > 0`` of ``c``.
  The one-sided derivatives along ``x_k`` are the derivatives of those two branches.
- ``m`` even: the branches touch without crossing (``abs(x**2)``): one branch on both sides,
  and the kink is no kink at all.
- every term zero up to ``MAX_ORDER``: the direction does not decide; both branches are kept.

Several kinks hit at once share the direction chosen for the first that crosses. The range
against which a subgradient is judged is the convex hull of every combination of undecided
branches (the Clarke subdifferential of a piecewise-smooth function is the convex hull of its
active branches' derivatives; Clarke, *Optimization and Nonsmooth Analysis*, 1983, Thm. 2.5.1):
``_compare.judge_subgradient`` tests the elementwise range, then the hull itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import sympy as sp

from . import _exact as exact
from . import _kinks as kk

MAX_ORDER = 4        # Taylor terms tried before a direction is called undecided
MAX_COMBINATIONS = 64


@dataclass
class Sides:
    """The branch replacements for each side of the point, and every combination for the hull."""

    left: dict[Any, Any]
    right: dict[Any, Any]
    combinations: list[dict[Any, Any]]
    direction: str              # the input element the sides are taken along ('' when undecided)
    crossing: bool              # some kink changes branch along that direction (or is undecided)
    # Every kink switches on that one input element alone: near the point only the left and the
    # right branch patterns occur, so the other combinations (relu(x) and relu(-x) both "on")
    # are not branches of the function (relu(x) - relu(-x) is x, smooth).
    along_one: bool = False


def _switch(k: kk.Kink) -> Any | None:
    if k.left is None or not k.switch:
        return None
    return k.switch[0] - k.switch[1] if len(k.switch) == 2 else k.switch[0]


def _leading(s: Any, x: Any, point: dict[Any, Any]) -> tuple[int, int]:
    """(m, sign of c) for the leading term c h**m of s(p + h e_x); (0, 0) when undecided."""
    d = s
    for m in range(1, MAX_ORDER + 1):
        d = sp.diff(d, x)
        if d == 0:
            return 0, 0
        v = d.xreplace(point)
        if not kk._exactly_zero(v):
            n = sp.N(v, 30)
            if not (n.is_real and n.is_number) or n.has(sp.DiracDelta):
                return 0, 0  # not a number (the switch itself has a kink here): undecided
            return m, (1 if n > 0 else -1)
    return 0, 0


def _branch(k: kk.Kink, sign: int, point: dict[Any, Any], syms: list[Any]) -> Any:
    """The branch where the switch has ``sign``. ``kinks_hit`` already swapped ``left``/``right``
    of a switch that falls as all its inputs grow (``max(0, x)``); this undoes that to find the
    branch of each sign of the switch itself."""
    neg, pos = k.left, k.right
    s = _switch(k)
    if s is not None and neg != pos and kk._decreasing(s, point, set(syms)):
        neg, pos = pos, neg
    return pos if sign > 0 else neg


def sides(hit: list[kk.Kink], point: dict[Any, Any], syms: list[Any]) -> Sides:
    """Branch replacements (kink node -> smooth branch) for the left and right side of the point."""
    plain = [k for k in hit if _switch(k) is None]  # n-ary max/min ties: first and last of the tied
    direction = touching = None
    for k in hit:
        s = _switch(k)
        if s is None:
            continue
        for x in syms:
            m = _leading(s, x, point)[0] if x in s.free_symbols else 0
            if m % 2 == 1:
                direction = x
                break
            if m and touching is None:
                touching = x
        if direction is not None:
            break
    direction = direction if direction is not None else touching
    left: dict[Any, Any] = {}
    right: dict[Any, Any] = {}
    free: list[kk.Kink] = list(plain)
    for k in hit:
        s = _switch(k)
        if s is None:
            continue
        m, c = _leading(s, direction, point) if direction is not None and direction in s.free_symbols else (0, 0)
        if m == 0:
            free.append(k)
            continue
        if m % 2 == 1:
            left[k.node], right[k.node] = _branch(k, -c, point, syms), _branch(k, c, point, syms)
            free.append(k)  # crossing: both branches enter the hull
        else:
            left[k.node] = right[k.node] = _branch(k, c, point, syms)
    fixed = {n: b for n, b in left.items() if left[n] == right[n]}
    for k in plain:
        lo, hi = kk.branches(k, point)
        left[k.node], right[k.node] = lo, hi
    for k in free:
        if k.node not in left:
            left[k.node], right[k.node] = k.left, k.right
    free = free[:6]
    combos = [{**fixed, **dict(zip([k.node for k in free], choice))}
              for choice in product(*[_both(k, point) for k in free])][:MAX_COMBINATIONS]
    for combo in combos:  # kinks beyond the cap keep their left branch
        for n, b in left.items():
            combo.setdefault(n, b)
    crossing = any(left[n] != right[n] for n in left) or bool(free)
    switches = [_switch(k) for k in hit]
    along_one = direction is not None and not plain and all(
        sw is not None and sw.free_symbols <= {direction} for sw in switches)
    return Sides(left, right, combos, str(direction) if direction is not None else "", crossing, along_one)


def _both(k: kk.Kink, point: dict[Any, Any]) -> tuple[Any, ...]:
    return kk.tied(k, point) if k.left is None else (k.left, k.right)


def zero_powers(target: np.ndarray, point: dict[Any, Any]) -> dict[Any, Any]:
    """``0**b`` (a zero constant raised to an input) -> 0 where ``b`` > 0 at the point.

    Differentiating ``0**b`` formally gives ``0**b * log(0)``, undefined, though the function
    is identically 0 near any b > 0. Where b <= 0 it stays (undefined, or a jump at b = 0)."""
    out: dict[Any, Any] = {}
    for e in target.flat:
        if not getattr(e, "free_symbols", None):
            continue
        if exact._is_symengine(e):
            import symengine as se

            pows, zero = e.atoms(se.Pow), se.S(0)
        else:
            pows, zero = e.atoms(sp.Pow), sp.Integer(0)
        for p in pows:
            base, expo = p.args
            if base == 0 and expo.free_symbols and p not in out:
                try:
                    v = exact.high_precision(exact.exact_values([expo], point)[0])
                except exact.DomainError:
                    continue
                if v.imag == 0 and v.real > 0:
                    out[p] = zero
    return out


def implicit_kinks(target: np.ndarray, known: list[kk.Kink]) -> list[kk.Kink]:
    """Kinks SymPy made on its own: with real symbols ``sqrt(x**2)`` is ``Abs(x)`` (``norm`` of
    one element), which must be a kink as on SymEngine, where it is a cone point."""
    seen = {k.node for k in known}
    out = []
    for node in sp.Tuple(*target.flat).atoms(sp.Abs, sp.sign):
        if node not in seen and node.free_symbols:
            u = node.args[0]
            if isinstance(node, sp.Abs):
                out.append(kk.Kink(node, [u], -u, u))
            else:
                out.append(kk.Kink(node, [u], sp.Integer(-1), sp.Integer(1), True))
    return out


def hull(values: list[np.ndarray], eigen: bool) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise min and max over the sides' values (eigenvalues: real parts, each sorted)."""
    arrs = [np.sort(v.real) if eigen else v for v in values]
    stack = np.stack([np.asarray(a, dtype=np.float64) for a in arrs])
    return stack.min(axis=0), stack.max(axis=0)


def kink_name(k: kk.Kink) -> str:
    if k.label:
        return k.label
    node = k.node
    name = {sp.Abs: "abs", sp.sign: "sign", sp.Max: "max", sp.Min: "min"}.get(type(node), str(type(node)))
    if isinstance(node, sp.Max) and len(node.args) == 2 and any(a == 0 for a in node.args):
        return f"relu({k.right})" if k.left == 0 else f"max({', '.join(map(str, node.args))})"
    return f"{name}({', '.join(map(str, node.args))})"


def active_branches(target: np.ndarray, point: dict[Any, Any]) -> dict[Any, Any]:
    """Each ``abs``/``sign``/``Heaviside``/``max``/``min`` node of ``target`` that is strictly on one side
    of its switch at ``point``, mapped to the branch it takes there. Near the point the function is that
    branch, so its derivatives are the branch's: SymPy's own derivative of ``Max(a, b)`` is
    ``Heaviside(a - b) a' + Heaviside(b - a) b'``, undefined where the unused ``b'`` is (``sqrt`` at 0)
    although its factor is 0. A node at a tie, or not a number at the point, is left as it is."""
    from ._kinks import _exactly_zero, _sign

    out: dict[Any, Any] = {}
    for node in sp.Tuple(*target.flat).atoms(sp.Abs, sp.sign, sp.Heaviside, sp.Max, sp.Min):
        if not node.free_symbols:
            continue
        if isinstance(node, (sp.Max, sp.Min)):
            vals = [a.xreplace(point) for a in node.args]
            signs = [_sign(v - vals[0]) if not _exactly_zero(v - vals[0]) else 0 for v in vals]
            if any(s is None for s in signs):
                continue
            pick = max if isinstance(node, sp.Max) else min
            best = pick(range(len(vals)), key=lambda i: sp.N(vals[i] - vals[0], 40))
            if sum(1 for v in vals if _exactly_zero(v - vals[best])) == 1:
                out[node] = node.args[best]
            continue
        u = node.args[0]
        value = u.xreplace(point)
        if _exactly_zero(value):
            continue
        s = _sign(value)
        if s is None:
            continue
        out[node] = {sp.Abs: s * u, sp.sign: sp.Integer(s)}.get(type(node), sp.Integer(1 if s > 0 else 0))
    return out

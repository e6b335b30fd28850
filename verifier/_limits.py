"""The exact value of an expression where direct evaluation is undefined: its limit.

Used only when substituting the point gives nan, zoo, oo or an infinite intermediate (a
removable singularity such as ``sin(pi*t)/(pi*t)`` at 0, or the cone point of ``norm``).
The expression is restricted to lines through the point, ``x = p + h d``, and SymPy's
``limit`` (Gruntz's algorithm, exact) is taken as ``h -> 0`` from each side:

- along two fixed generic directions ``d`` (every input moving), both sides: if all four
  limits are the same finite number, that is the value (the continuous extension), in one
  variable; in several only where continuity is shown (``_continuous``: the expression cancels
  to one defined there, or is a sum/product of such parts), else it is undefined (lines do not
  see ``x*y**2/(x**2 + y**4)``, whose limit along ``x = y**2`` is 1/2);
- else, if they are finite, the point is a cone point or kink: the one-sided values along
  the first input element ``x_k`` of the expression (``x_k - h`` and ``x_k + h``) are its
  left and right values, and every limit found bounds the range of a subgradient;
- anything infinite or without a limit is undefined, and stays so (``DomainError``).

Limits along lines are necessary conditions for the limit at the point, not proofs of it;
two generic lines and both coordinate sides catch direction-dependent values such as
``x*y/(x**2 + y**2)``, and a value is given only with a sufficient condition for continuity.
Each ``limit`` call runs under a time budget (``LIMIT_SECONDS``,
SIGALRM, main thread only) and expressions over ``MAX_OPS`` operations are not tried.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ._exact import to_sympy
from ._sides import zero_powers

LIMIT_SECONDS = 10
MAX_OPS = 400


class Undefined(ValueError):
    """No finite limit: the value is undefined at this point."""


@dataclass
class Limit:
    """The value at the point (``left == right``) or one-sided values along ``direction``."""

    left: Any
    right: Any
    direction: str = ""
    others: list[Any] = field(default_factory=list)  # limits along the generic lines

    @property
    def two_sided(self) -> bool:
        return self.direction == ""


@contextmanager
def _budget(seconds: int) -> Any:
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _sympy(expr: Any) -> Any:
    """The expression in SymPy with real symbols (SymEngine's are plain)."""
    e = expr if isinstance(expr, sp.Basic) else to_sympy(expr)  # a SymEngine tree, never text
    reals = {s: sp.Symbol(s.name, real=True) for s in e.free_symbols if not s.is_real}
    return e.xreplace(reals) if reals else e


def _one(e: Any, h: Any) -> Any:
    with _budget(LIMIT_SECONDS):
        try:
            lim = sp.limit(e, h, 0, "+")
        except TimeoutError:
            raise Undefined("its limit took too long to find") from None
        except (NotImplementedError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise Undefined(f"no limit found ({type(exc).__name__})") from None
    if lim.has(sp.nan, sp.zoo, sp.oo, -sp.oo, sp.AccumBounds) or not lim.is_finite:
        raise Undefined(f"its limit is {lim}")
    return lim


def _along(e: Any, point: dict[Any, Any], syms: list[Any], d: list[Any], h: Any, sign: int) -> Any:
    return _one(e.xreplace({s: point[s] + sign * di * h for s, di in zip(syms, d)}), h)


def _equal(a: Any, b: Any) -> bool:
    diff = sp.simplify(a - b)
    return bool(diff == 0) or abs(sp.N(diff, 50)) < sp.Float(10) ** -45


def limit_at(expr: Any, point: dict[Any, Any], order: list[str] | None = None,
             partial: tuple[Any, Any] | None = None) -> Limit:
    """The limit of ``expr`` at ``point`` (symbol -> exact value), as described above.

    Raises ``Undefined`` when there is none (infinite, oscillating, too costly to find).
    ``order`` names the input elements, first preferred for one-sided values. ``partial``:
    ``(f, x)`` when ``expr`` is the formula of the partial derivative df/dx; where the limit
    of the formula is not established, the partial derivative is taken by its definition
    (``by_definition``).
    """
    try:
        return _limit_at(expr, point, order)
    except Undefined:
        if partial is None:
            raise
        try:
            return by_definition(*partial, point)
        except Undefined:
            pass
        raise


def by_definition(f: Any, x: Any, point: dict[Any, Any]) -> Limit:
    """df/dx at ``point`` as the limit of its difference quotient, (f(p + h e_x) - f(p)) / h as
    h -> 0 from each side, the other inputs held at the point: the definition of the partial
    derivative, in one variable, where Gruntz's ``limit`` is exact. A formula derived for
    generic points can be undefined where the derivative exists (d/db of a**b at a = 0 is
    ``a**b*log(a)``, while a**b is 0 for every b > 0 there). Equal one-sided quotients are the
    value; different finite ones are one-sided partials along ``x`` (a kink). Needs f(p) defined."""
    fs, xs = _sympy(f), _sympy(x)
    if not isinstance(xs, sp.Symbol):
        raise Undefined("not a partial derivative by an input element")
    by_name = {str(k): v for k, v in point.items()}
    syms = {s.name: s for s in fs.free_symbols}
    if xs.name not in syms or any(n not in by_name for n in syms):
        raise Undefined("not a partial derivative of this expression")
    x = syms[xs.name]
    pt = {s: sp.Rational(by_name[n]) for n, s in syms.items()}
    if not _direct(fs, pt):
        raise Undefined("the function itself is not defined at this point")
    f0 = fs.xreplace(pt)
    h = sp.Symbol("h", positive=True)
    right = _one(_zero_powers((fs.xreplace({**pt, x: pt[x] + h}) - f0) / h, h), h)
    left = _one(_zero_powers((f0 - fs.xreplace({**pt, x: pt[x] - h})) / h, h), h)
    if _equal(left, right):
        return Limit(right, right)
    return Limit(left, right, direction=x.name, others=[left, right])


def _zero_powers(q: Any, h: Any) -> Any:
    """``0**g(h)`` -> 0 where g(0) > 0 (``_sides.zero_powers`` at h = 0): g stays positive for
    small h, and 0**positive is 0."""
    return q.xreplace(zero_powers(np.array([q], dtype=object), {h: sp.Integer(0)}))


def _limit_at(expr: Any, point: dict[Any, Any], order: list[str] | None = None) -> Limit:
    e = _sympy(expr)
    if sp.count_ops(e) > MAX_OPS:
        raise Undefined("too large to take its limit")
    by_name = {str(k): v for k, v in point.items()}
    syms = sorted(e.free_symbols, key=lambda s: (order.index(s.name) if order and s.name in order
                                                  else len(order or ()), s.name))
    if not syms:
        raise Undefined(f"it is {e}")
    pt = {s: sp.Rational(by_name[s.name]) for s in syms}
    h = sp.Symbol("h", positive=True)
    n = len(syms)
    lines = [[sp.Integer(1) + sp.Rational(i, 7) for i in range(n)],
             [(-1) ** i * (sp.Integer(1) + sp.Rational(i + 1, 5)) for i in range(n)]]
    found = [_along(e, pt, syms, d, h, s) for d in lines for s in (1, -1)]
    if all(_equal(found[0], f) for f in found[1:]):
        # In one variable the two one-sided limits are the limit. In several, lines are not enough
        # (x*y**2/(x**2 + y**4) has limit 0 along every line, 1/2 along x = y**2): the value is
        # taken only where continuity is shown (``_continuous``), else it is not judged.
        if len(syms) > 1 and not _continuous(e, pt, h):
            raise Undefined(f"its limit along lines is {found[0]}, but its continuity here is not "
                            "established (a limit along a curve may differ), so it cannot be judged")
        return Limit(found[0], found[0])
    for x in syms:  # one-sided values along the first element with finite ones
        axis = [sp.Integer(1) if s == x else sp.Integer(0) for s in syms]
        try:
            right = _along(e, pt, syms, axis, h, 1)
            left = _along(e, pt, syms, axis, h, -1)
        except Undefined:
            continue
        return Limit(left, right, direction=x.name, others=found)
    raise Undefined("its value depends on the direction of approach")


_DISCONTINUOUS = (sp.sign, sp.Heaviside, sp.Piecewise, sp.floor, sp.ceiling, sp.frac)


def _direct(e: Any, pt: dict[Any, Any]) -> bool:
    """Whether ``e`` is defined at the point by direct substitution, and continuous there: built
    from functions that are continuous where they are defined."""
    if e.has(*_DISCONTINUOUS):
        return False
    v = e.xreplace(pt)
    return bool(v.is_number) and not v.has(sp.nan, sp.zoo, sp.oo, -sp.oo) and v.is_finite is not False


def _continuous(e: Any, pt: dict[Any, Any], h: Any) -> bool:
    """A sufficient condition for ``e`` (undefined at the point) to have a limit there: it cancels
    to an expression defined and continuous at the point (``(x**2 - y**2)/(x - y)`` is ``x + y``),
    or it is a sum or product of parts that each have one: defined there, cancelling, or of one
    variable with equal finite one-sided limits (Gruntz's ``limit`` is exact in one variable)."""
    syms = [s for s in e.free_symbols if s in pt]
    if not syms or _direct(e, pt):
        return True
    if e.has(*_DISCONTINUOUS):
        return False
    if len(syms) == 1:
        x = syms[0]
        try:
            right = _one(e.xreplace({x: pt[x] + h}), h)
            left = _one(e.xreplace({x: pt[x] - h}), h)
        except Undefined:
            return False
        return _equal(left, right)
    try:
        with _budget(LIMIT_SECONDS):
            g = sp.cancel(sp.together(e))
    except (TimeoutError, NotImplementedError, ValueError, TypeError, sp.PolynomialError):
        g = e
    if g != e and _direct(g, pt):
        return True
    if _removable_in_one(g, pt):
        return True
    if isinstance(e, sp.Add):
        return all(_continuous(a, pt, h) for a in e.args)
    if isinstance(e, sp.Mul):  # factors in the same one variable together: x*log(x) has a limit
        groups: dict[Any, list[Any]] = {}
        for a in e.args:
            names = frozenset(s for s in a.free_symbols if s in pt)
            groups.setdefault(names if len(names) == 1 else a, []).append(a)
        return len(groups) > 1 and all(_continuous(sp.Mul(*g), pt, h) for g in groups.values())
    return False


MAX_ORDER = 6  # the order of a denominator's zero tried by ``_removable_in_one``


def _removable_in_one(e: Any, pt: dict[Any, Any]) -> bool:
    """``e = N / D`` with ``D`` a function of one variable ``t`` with a zero of order ``k`` at the
    point, ``N`` smooth there, and ``N``'s first ``k`` Taylor coefficients in ``t`` identically zero
    in the other variables (``sin(a*t)/t``): then ``N = (t - p)**k M`` with ``M`` smooth (Taylor's
    theorem with integral remainder), so ``e = M / (D / (t - p)**k)`` is continuous at the point."""
    try:
        with _budget(LIMIT_SECONDS):
            return _removable(e, pt)
    except (TimeoutError, TypeError, ValueError, NotImplementedError, AttributeError):
        return False


def _removable(e: Any, pt: dict[Any, Any]) -> bool:
    num, den = sp.fraction(e)
    dsyms = [s for s in den.free_symbols if s in pt]
    if len(dsyms) != 1:
        return False
    t = dsyms[0]
    at = {t: pt[t]}
    k = 0
    while k <= MAX_ORDER and _is_zero((den.diff(t, k) if k else den).xreplace(pt)):
        k += 1
    if k == 0 or k > MAX_ORDER or not _direct(den.diff(t, k), pt):
        return False
    for j in range(k + 1):  # N smooth to order k at the point; its first k coefficients vanish
        nj = num.diff(t, j) if j else num
        if not _direct(nj, pt):
            return False
        if j < k and not _is_zero(sp.simplify(nj.xreplace(at))):
            return False
    return all(_direct(den.diff(t, j) if j else den, pt) for j in range(k + 1))


def _is_zero(v: Any) -> bool:
    return bool(v == 0) or v.is_zero is True

"""Exact evaluation of symbolic results at a point (eigenvalues: ``_eigen``).

The point maps each input symbol to the exact binary value of its float (a rational).
SymPy and SymEngine expressions are both accepted; rational expressions are evaluated
exactly and rounded once, transcendental SymEngine expressions in MPFR with exact inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp


class DomainError(ValueError):
    """The exact value is undefined or complex where a real number was expected."""


def _is_symengine(e: Any) -> bool:
    return type(e).__module__.startswith("symengine")


def _point_for(exprs: list[Any], point: dict[Any, Any], bits: int | None = None) -> dict[Any, Any]:
    if any(_is_symengine(e) for e in exprs):
        import symengine as se

        if bits:  # the exact binary value of each input, held exactly in a `bits`-bit MPFR
            return {se.S(k): se.RealMPFR(_binary_decimal(int(v.p), int(v.q)), bits)
                    if v.q & (v.q - 1) == 0 else se.S(v) for k, v in point.items()}
        return {se.S(k): se.S(v) for k, v in point.items()}
    return point


def _evaluate_shared(items: list[Any], point: dict[Any, Any]) -> list[Any]:
    """Evaluate SymEngine trees bottom-up, each distinct subexpression once (a dense
    Hessian repeats the same sigmoid or tanh in every entry)."""
    memo: dict[Any, Any] = dict(point)

    def ev(node: Any) -> Any:
        args = node.args
        if not args:  # a number stays itself; a symbol takes its value
            return memo.get(node, node)
        try:
            return memo[node]
        except KeyError:
            val = node.func(*[ev(a) for a in args])
            if _not_finite(val):  # an infinite or undefined intermediate never becomes a number
                import symengine as se

                val = se.nan
            memo[node] = val
            return val

    return [ev(e) for e in items]


def _not_finite(v: Any) -> bool:
    """nan, zoo, oo, or an MPFR nan/inf (whose ``is_zero`` SymEngine reports as True)."""
    name = type(v).__name__
    if name in ("NaN", "ComplexInfinity", "Infinity", "NegativeInfinity"):
        return True
    if name in ("RealMPFR", "RealDouble"):
        text = str(v)
        return "@" in text or text in ("nan", "inf", "-inf")
    return False


def _binary_decimal(p: int, q: int) -> str:
    """The exact decimal expansion of p / q for q a power of two (p / 2**k = p * 5**k / 10**k)."""
    k = q.bit_length() - 1
    if k == 0:
        return str(p)
    digits = str(abs(p) * 5**k).rjust(k + 1, "0")
    return ("-" if p < 0 else "") + digits[:-k] + "." + digits[-k:]


def exact_values(exprs: Iterable[Any], point: dict[Any, Any], bits: int | None = None) -> list[Any]:
    """Each expression with every symbol replaced by its exact rational value (``xreplace``).

    Numbers are passed through and shared subexpressions (a Hessian's mirrored halves) are
    replaced once; SymEngine replaces the rest in one batched call, which converts the point
    once instead of once per entry. With ``bits`` (transcendental SymEngine expressions), the
    inputs become ``bits``-bit MPFR numbers, which hold their binary values exactly, and the
    expression is evaluated in MPFR instead of being kept as an exact tree (``bits=256`` is
    77 digits, against float64's 16).
    """
    exprs = [sp.Integer(e) if isinstance(e, (int, float)) else e for e in exprs]
    todo: dict[int, Any] = {}
    for e in exprs:
        if not _is_arb(e) and not e.is_Number and id(e) not in todo:
            todo[id(e)] = e
    pt = _point_for(list(todo.values()), point, bits)
    keys, items = list(todo), list(todo.values())
    if items and bits and all(_is_symengine(e) for e in items):
        done = _evaluate_shared(items, pt)
    elif items and all(_is_symengine(e) for e in items):
        import symengine as se

        done = list(se.DenseMatrix(len(items), 1, items).xreplace(pt))
    else:
        done = [e.xreplace(pt) for e in items]
    values = dict(zip(keys, done))
    return [values.get(id(e), e) for e in exprs]


def _se_undefined() -> tuple[Any, ...]:
    import symengine as se

    return (se.nan, se.zoo, se.oo, -se.oo)


def high_precision(v: Any, bits: int = 200) -> complex:
    """An exact number rounded once: SymPy's evalf, or MPFR through SymEngine (an arb ball: its midpoint)."""
    if _is_arb(v):
        n = complex(float(v.mid()), 0.0) if v.is_finite() else complex("nan")
        if not np.isfinite(n.real):
            raise DomainError(f"not defined at this point ({v})")
        return n
    if _is_symengine(v) and (_not_finite(v) or v.has(*_se_undefined())):
        raise DomainError(f"not defined at this point ({v})")
    if v.is_zero is True:  # the many exact zeros of sparse Hessians
        return 0j
    try:
        if _is_symengine(v):
            try:
                n = complex(float(v.n(bits, real=True)), 0.0)
            except RuntimeError:
                try:
                    n = complex(v.n(bits, real=False))
                except RuntimeError:  # no MPFR form in SymEngine (polygamma of order >= 1): F8
                    n = _evalf_unevaluated(v, bits)
        else:
            if v.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
                raise DomainError(f"not defined at this point ({v})")
            re, im = sp.N(v, int(bits / 3.33)).as_real_imag()
            n = complex(float(re), float(im))
    except DomainError:
        raise
    except (RuntimeError, TypeError, ValueError) as exc:
        raise DomainError(f"not defined at this point ({v}: {exc})") from None
    if not (np.isfinite(n.real) and np.isfinite(n.imag)):
        raise DomainError(f"not defined at this point ({v})")
    return n


def _evalf_unevaluated(v: Any, bits: int) -> complex:
    """A SymEngine number SymEngine cannot evaluate, by SymPy's evalf (mpmath) on the same tree.

    Converted without SymPy's automatic evaluation, which would first expand ``polygamma(2, 10000)``
    into ``-2 (zeta(3) - H(9999, 3))`` with a 40,000-digit rational (10 s), where mpmath's ``psi``
    takes a millisecond (engineer `verdicts`, red-team F8)."""
    with sp.evaluate(False):
        e = v._sympy_()
    if e.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise DomainError(f"not defined at this point ({v})")
    try:
        re, im = sp.N(e, int(bits / 3.33)).as_real_imag()
    except (ValueError, ZeroDivisionError, ArithmeticError) as exc:
        raise DomainError(f"not defined at this point ({v}: {exc})") from None
    return complex(float(re), float(im))


def evaluate_exact(exprs: Iterable[Any], point: dict[Any, Any], *, allow_complex: bool = False,
                   bits: int | None = None, limits: dict[int, Any] | None = None,
                   order: list[str] | None = None,
                   partials: Sequence[tuple[Any, Any] | None] | None = None) -> np.ndarray:
    """Evaluate expressions exactly at ``point`` (symbol -> Rational), then round once.

    Returns float64 (complex128 with ``allow_complex``), one value per expression. Raises
    ``DomainError`` where a value is undefined or complex. With ``limits`` (a dict to fill),
    an entry whose direct value is undefined gets its limit (``_limits.limit_at``); where
    that limit is one-sided, the left value is returned; ``limits[i]`` holds every limit used.
    ``partials[i]``: ``(f, x)`` where entry i is df/dx (``_limits.by_definition``).
    """
    exprs = list(exprs)
    out = []
    for i, v in enumerate(exact_values(exprs, point, bits)):
        try:
            n = high_precision(v)
        except DomainError:
            if limits is None or not _has_symbols(exprs[i]):
                raise
            from . import _limits

            try:
                lim = _limits.limit_at(exprs[i], point, order, partials[i] if partials else None)
            except _limits.Undefined as exc:
                raise DomainError(f"not defined at this point ({exprs[i]}: {exc})") from None
            limits[i] = lim
            if not lim.two_sided:
                order = [lim.direction] + [o for o in order or () if o != lim.direction]
            n = high_precision(lim.left)
        if n.imag != 0 and not allow_complex and abs(n.imag) > 1e-25 * max(1.0, abs(n.real)):
            raise DomainError(f"is complex at this point ({n})")
        out.append(n if allow_complex else n.real)
    return np.array(out, dtype=np.complex128 if allow_complex else np.float64)


@dataclass
class Enclosed:
    """Reference values with their enclosure: ``|exact - values| <= radius`` elementwise
    (float64; nan where an entry was evaluated the old way, uncertified), and how: ``exact``,
    ``certified to N digits`` or the MPFR fallback note."""

    values: np.ndarray
    radius: np.ndarray
    how: str


def evaluate_enclosed(exprs: Iterable[Any], point: dict[Any, Any], *, bits: int | None = None,
                      limits: dict[int, Any] | None = None, order: list[str] | None = None,
                      partials: Sequence[tuple[Any, Any] | None] | None = None) -> Enclosed:
    """``evaluate_exact`` with a certified enclosure (``_certified``, arb balls): same values
    (float64, one per expression), same ``DomainError`` and ``limits``. Exact rational values
    are rounded as before, their radius the exact rounding error. Transcendental ones are arb
    balls; an entry without a finite ball is evaluated by ``evaluate_exact`` (its radius nan).
    Without python-flint, ``evaluate_exact`` alone (``_certified.FALLBACK_NOTE``)."""
    from . import _certified

    exprs = list(exprs)
    if not _certified.available():
        vals = evaluate_exact(exprs, point, bits=bits, limits=limits, order=order, partials=partials)
        return Enclosed(vals, np.full(vals.shape, np.nan), _certified.FALLBACK_NOTE)
    n = len(exprs)
    vals, radius = np.zeros(n), np.full(n, np.nan)
    digits = float("inf")
    trees: list[int] = []
    if bits:  # transcendental SymEngine: balls straight from the trees (no MPFR pass)
        trees = list(range(n))
        numbers: list[Any] = exprs
    else:  # exact values first: rational ones stay exact
        numbers = exact_values(exprs, point)
        for i, v in enumerate(numbers):
            if _is_arb(v) or not getattr(v, "is_Rational", _is_symengine(v) and _se_rational(v)):
                trees.append(i)
                continue
            try:
                vals[i] = high_precision(v).real
            except DomainError:  # overflow or undefined: the old evaluation decides (limits)
                continue
            radius[i] = _rational_error(v, vals[i])
    if trees:
        balls, _ = _certified.enclose([numbers[i] for i in trees], {} if not bits else point)
        ok = [(i, b) for i, b in zip(trees, balls) if b is not None]
        v, r, digits = _certified.rounded([b for _, b in ok])
        for (i, _), vi, ri in zip(ok, v, r):
            if np.isfinite(vi):
                vals[i], radius[i] = vi, ri
    old = [i for i in range(n) if np.isnan(radius[i])]
    if old:  # undefined, undecided or overflowing balls: the old evaluation decides (limits, DomainError)
        sub: dict[int, Any] | None = {} if limits is not None else None
        vals[old] = evaluate_exact([exprs[i] for i in old], point, bits=bits, limits=sub, order=order,
                                   partials=[partials[i] for i in old] if partials else None)
        if sub:
            limits.update({old[k]: lim for k, lim in sub.items()})  # type: ignore[union-attr]
    how = _certified.digits_text(digits)
    if old:
        how += f" ({len(old)} of {n} entries not certified: {'limits' if limits else 'MPFR'})"
    return Enclosed(vals, radius, how)


def _is_arb(v: Any) -> bool:
    return type(v).__module__.startswith("flint")


def _se_rational(v: Any) -> bool:
    return type(v).__name__ in ("Integer", "Rational", "Zero", "One", "NegativeOne")


def _rational_error(v: Any, rounded: float) -> float:
    """|v - rounded| for an exact rational v, rounded up to float64."""
    from fractions import Fraction

    p, q = (int(t) for t in v.get_num_den()) if _is_symengine(v) else (int(v.p), int(v.q))
    err = abs(Fraction(p, q) - Fraction(rounded))
    if not err:
        return 0.0
    f = float(err)
    return f if Fraction(f) >= err else float(np.nextafter(f, np.inf))


def _has_symbols(e: Any) -> bool:
    return bool(getattr(e, "free_symbols", None))


def to_sympy(x: Any) -> Any:
    """A SymPy object from a SymPy or SymEngine expression or a Python/NumPy number.

    Never parses text (no ``sympify``): a string raises ``TypeError``."""
    if isinstance(x, sp.Basic):
        return x
    if hasattr(x, "_sympy_"):  # SymEngine
        return x._sympy_()
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, complex, np.number)):
        raise TypeError(f"not a number or an expression: {type(x).__name__}")
    if isinstance(x, (int, np.integer)):
        return sp.Integer(int(x))
    z = complex(x)
    if z.imag == 0 and not isinstance(x, (complex, np.complexfloating)):
        return sp.Float(z.real)
    return sp.Float(z.real) + sp.I * sp.Float(z.imag)

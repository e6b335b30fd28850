"""A certified reference: SymPy and SymEngine expression trees evaluated in arb balls.

Each value is enclosed by a ball (a midpoint and a rigorous radius) computed in ball
arithmetic with python-flint's arb (F. Johansson, "Arb: efficient arbitrary-precision
midpoint-radius interval arithmetic", IEEE Transactions on Computers 66(8), 2017). The inputs
are exact binary values of floats (``Rational(float)``, dyadic), held exactly by ``arb``.
Evaluation starts at ``START_BITS`` and doubles the precision (up to ``MAX_BITS``) for the
entries whose ball is too wide to fix their float64 rounding (``TARGET_BITS`` relative bits).

Undefined values keep the existing semantics: an entry whose ball is not finite (a division by
a ball holding 0, a log of a ball reaching 0, a branch the ball cannot decide) is not given a
number here; the caller evaluates it the old way (``_exact.evaluate_exact``: exact values,
limits, ``DomainError``). Eigenvalue enclosures: ``_certified_eig``.

Every function returns None or raises ``Unavailable`` when python-flint cannot be imported;
the caller then keeps the 256-bit MPFR reference and says so (``FALLBACK_NOTE``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

START_BITS = 128
MAX_BITS = 4096
TARGET_BITS = 64   # relative accuracy that fixes a float64 rounding (53 bits) with margin
ZERO_BITS = 256    # a ball around 0 (cancellation) is accepted at this precision, like the MPFR path
FALLBACK_NOTE = "256-bit MPFR, not certified: python-flint unavailable"  # shown as "reference: ..."


class Unavailable(RuntimeError):
    """python-flint is not installed."""


class NotCertified(ArithmeticError):
    """No finite ball for this entry: undefined, undecided at ``MAX_BITS``, or a node without an arb form."""


class _Undecided(ArithmeticError):
    pass


def available() -> bool:
    """Whether python-flint imports (checked each call, so a test can hide it)."""
    try:
        import flint  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def workprec(bits: int) -> Iterator[None]:
    """arb's working precision within a block (python-flint's own ``ctx.workprec`` is 0.5+)."""
    ctx = _flint().ctx
    old = ctx.prec
    ctx.prec = bits
    try:
        yield
    finally:
        ctx.prec = old


def _flint() -> Any:
    try:
        import flint
    except ImportError:
        raise Unavailable("python-flint unavailable") from None
    return flint


# -- evaluation of one tree ------------------------------------------------------------------
_UNDEFINED = {"NaN", "ComplexInfinity", "Infinity", "NegativeInfinity", "BooleanAtom"}
_UNARY = {  # node class name -> arb method (both SymPy's and SymEngine's names)
    "exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec",
    "csc": "csc", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "coth": "coth", "sech": "sech",
    "csch": "csch", "asin": "asin", "acos": "acos", "atan": "atan", "asinh": "asinh", "acosh": "acosh",
    "atanh": "atanh", "erf": "erf", "erfc": "erfc", "gamma": "gamma", "LambertW": "lambertw",
    "Sinc": "sinc_pi",  # torch.sinc(x) = sin(pi x)/(pi x): arb's sinc_pi
}


_SE_RATIONAL = {"Rational", "Integer", "Zero", "One", "NegativeOne"}  # SymEngine's (SymPy's have .p, .q)
_SE_RATIONAL_TYPES: set[type] = set()
_LEAVES = {"Symbol", "Dummy", "Rational", "Integer", "Zero", "One", "NegativeOne", "Half", "Float",
           "RealMPFR", "RealDouble", "arb", "acb", "int", "float"}


class Evaluator:
    """Balls for expression trees at one point and one precision; shared subexpressions once."""

    def __init__(self, point: dict[Any, Any], prec: int) -> None:
        self.flint = _flint()
        self.prec = prec
        self.memo: dict[Any, Any] = {}
        self.point = point
        self._se_point: dict[Any, Any] | None = None

    def leaf_value(self, node: Any) -> Any:
        v = self.point.get(node)
        if v is None and type(node).__module__.startswith("symengine"):
            if self._se_point is None:
                self._se_point = {_se(k): v for k, v in self.point.items()}
            v = self._se_point.get(node)
        if v is None:
            raise NotCertified(f"no value for {node}")
        return self.number(v)

    def number(self, v: Any) -> Any:
        f = self.flint
        t = type(v)
        name = t.__name__
        if t in _SE_RATIONAL_TYPES or (name in _SE_RATIONAL and t.__module__.startswith("symengine")):
            _SE_RATIONAL_TYPES.add(t)  # the commonest leaf first (a dense problem's data)
            p, q = v.get_num_den()
            return f.arb(f.fmpq(int(p), int(q)))
        if isinstance(v, (f.arb, f.acb)):
            return v
        if isinstance(v, int):
            return f.arb(v)
        if isinstance(v, float):
            p, q = v.as_integer_ratio()
            return f.arb(f.fmpq(p, q))
        if name in ("Integer", "Zero", "One", "NegativeOne", "Rational", "Half", "IntegerConstant"):
            return f.arb(f.fmpq(int(v.p), int(v.q)))  # SymPy
        if name in ("Float", "RealMPFR", "RealDouble"):
            mpf = (v if name == "Float" else v._sympy_())._mpf_  # the exact binary value
            sign, man, exp, _ = mpf
            if not man and exp:
                raise NotCertified(f"{v} is not finite")
            m = -int(man) if sign else int(man)
            return f.arb(f.fmpq(m * 2**exp, 1) if exp >= 0 else f.fmpq(m, 2**-exp))
        if name == "Pi":
            return f.arb.pi()
        if name in ("Exp1", "E"):
            return f.arb.const_e()
        if name == "EulerGamma":
            return f.arb.const_euler()
        if name in _UNDEFINED:
            raise NotCertified(f"undefined ({v})")
        raise NotCertified(f"no arb form for the number {v} ({name})")

    def __call__(self, node: Any) -> Any:
        name = type(node).__name__
        if name in ("arb", "acb"):  # already a ball (python-flint < 0.5: not hashable)
            return node
        try:
            return self.memo[node]
        except KeyError:
            pass
        if name in _LEAVES:
            val = self.leaf_value(node) if name in ("Symbol", "Dummy") else self.number(node)
        else:
            args = node.args  # (SymEngine builds new wrappers on each access: once)
            if not args or name in _UNDEFINED:
                val = self.number(node)
            else:
                val = self._node(node, name, args)
                if not val.is_finite():
                    # Exact operands: certainly undefined here. Else a wider ball may be the cause.
                    if all(self(a).is_exact() for a in args if _is_expr(a)):
                        raise NotCertified(f"undefined: {node}")
                    raise _Undecided(str(node))
        self.memo[node] = val
        return val

    def _node(self, node: Any, name: str, a: tuple[Any, ...]) -> Any:
        f = self.flint
        if name == "Add":
            out = self(a[0])
            for t in a[1:]:
                out = out + self(t)
            return out
        if name == "Mul":
            out = self(a[0])
            for t in a[1:]:
                out = out * self(t)
            return out
        if name == "Pow":
            base, ex = a
            if type(base).__name__ in ("Exp1", "E"):
                return self(ex).exp()
            eb = self(ex)
            if eb.is_exact() and eb.is_integer():
                k = int(eb.unique_fmpz())
                b = self(base)
                if k < 0 and b.contains(0):
                    raise (NotCertified if b.is_zero() else _Undecided)(f"division by zero: {node}")
                return _ipow(b, k)
            if eb.is_exact() and eb * 2 == 1:
                return self(base).sqrt()
            return self(base) ** eb   # arb: nan for a negative base
        if name in _UNARY:
            return getattr(self(a[0]), _UNARY[name])()
        if name == "loggamma":  # SymPy/SymEngine loggamma: real for x > 0
            return self(a[0]).lgamma()
        if name == "LogAbsGamma":  # torch.lgamma: log|Gamma(x)|
            x = self(a[0])
            return x.lgamma() if x > 0 else abs(x.gamma()).log()
        if name == "polygamma":
            m, x = self(a[0]), self(a[1])
            if not (m.is_exact() and m.is_integer()):
                raise NotCertified(f"polygamma of non-integer order: {node}")
            if int(m.unique_fmpz()) == 0:
                return x.digamma()
            return f.acb(x).polygamma(f.acb(m)).real  # arb has it only for acb; the value is real
        if name == "digamma":
            return self(a[0]).digamma()
        if name == "atan2":
            return f.arb.atan2(self(a[0]), self(a[1]))
        if name == "SincDerivative":
            return self._sinc_derivative(node)
        if name == "Abs":
            return abs(self(a[0]))
        if name in ("sign", "Heaviside"):
            s = self._sign(self(a[0]))
            if name == "sign":
                return f.arb(s)
            if s == 0:
                return self(a[1]) if len(a) > 1 else f.arb(f.fmpq(1, 2))  # SymPy's H(0) = 1/2
            return f.arb(int(s > 0))
        if name == "DiracDelta":  # 0 away from 0 (every order); at 0 undefined
            if self._sign(self(a[0])) == 0:
                raise NotCertified(f"undefined: {node}")
            return f.arb(0)
        if name in ("Max", "Min"):
            out = self(a[0])
            for t in a[1:]:
                out = out.max(self(t)) if name == "Max" else out.min(self(t))
            return out
        if name == "Piecewise":
            for pair in a:
                if self._truth(pair.args[1]):
                    return self(pair.args[0])
            raise NotCertified(f"no branch of {node} holds")
        raise NotCertified(f"no arb form for {name}")

    def _sign(self, x: Any) -> int:
        if x.is_zero():
            return 0
        if x > 0:
            return 1
        if x < 0:
            return -1
        raise _Undecided("sign of a ball holding 0")

    def _truth(self, cond: Any) -> bool:
        name = type(cond).__name__
        if name in ("BooleanTrue", "true"):
            return True
        if name in ("BooleanFalse", "false"):
            return False
        if name == "And":
            return all(self._truth(c) for c in cond.args)
        if name == "Or":
            return any(self._truth(c) for c in cond.args)
        if name == "Not":
            return not self._truth(cond.args[0])
        rel = {"StrictLessThan": (True, False, False), "LessThan": (True, True, False),
               "StrictGreaterThan": (False, False, True), "GreaterThan": (False, True, True),
               "Equality": (False, True, False), "Unequality": (True, False, True)}.get(name)
        if rel is None:
            raise NotCertified(f"no arb form for the condition {cond}")
        s = self._sign(self(cond.args[0]) - self(cond.args[1]))
        return rel[s + 1]

    def _sinc_derivative(self, node: Any) -> Any:
        """The k-th derivative of sin(pi t)/(pi t), differentiated by SymPy, evaluated in arb."""
        import sympy as sp

        k, x = node.args
        xb = self(x)
        if xb.contains(0):
            if xb.is_zero():  # the series at 0 (``_symfunctions.SincDerivative``)
                k = int(k)
                return self.flint.arb(0) if k % 2 else (-1) ** (k // 2) * self.flint.arb.pi() ** k / (k + 1)
            raise _Undecided("sinc derivative near 0")
        t = sp.Dummy("t")
        expr = sp.diff(sp.sin(sp.pi * t) / (sp.pi * t), t, int(k))
        sub = Evaluator({t: xb}, self.prec)
        return sub(expr)


def _ipow(b: Any, k: int) -> Any:
    """b**k by squaring: arb's own power is nan for a ball that holds 0 (not a point)."""
    if k < 0:
        return 1 / _ipow(b, -k)
    out, sq = None, b
    while k:
        if k & 1:
            out = sq if out is None else out * sq
        k >>= 1
        if k:
            sq = sq * sq
    return out if out is not None else b * 0 + 1


def _is_expr(a: Any) -> bool:
    return hasattr(a, "args") and type(a).__name__ not in ("ExprCondPair",)


def _se(k: Any) -> Any:
    import symengine as se

    return se.S(k)


# -- adaptive precision ----------------------------------------------------------------------
def settled(ball: Any, prec: int) -> bool:
    """Whether ``ball`` fixes its float64 rounding well enough (or cannot get better: a ball
    holding 0 after cancellation, accepted from ``ZERO_BITS`` on)."""
    if ball.is_exact() or ball.rel_accuracy_bits() >= TARGET_BITS:
        return True
    return bool(ball.contains(0)) and prec >= ZERO_BITS


def usable(ball: Any) -> bool:
    """Whether a ball is tight enough to stand for the exact value: a point, 53 relative bits
    (float64's), or within 2**-100 of 0. A wider one (a defective eigenvalue's cluster) is not."""
    f = _flint()
    if isinstance(ball, f.acb):
        return usable(ball.real) and usable(ball.imag)
    if not ball.is_finite():
        return False
    return bool(ball.is_exact() or ball.rel_accuracy_bits() >= 53
                or (ball.contains(0) and ball.rad() < _TINY))


_TINY = 2.0**-100


def enclose(exprs: Sequence[Any], point: dict[Any, Any]) -> tuple[list[Any], int]:
    """A ball for each expression (or number, or arb ball) at ``point``; None where no finite
    ball was found (the caller decides such entries the old way). Returns the balls and the
    highest precision used (bits)."""
    _flint()  # Unavailable without python-flint
    out: list[Any] = [None] * len(exprs)
    todo = list(range(len(exprs)))
    prec = START_BITS
    while todo:
        with workprec(prec):
            ev = Evaluator(point, prec)
            again = []
            for i in todo:
                try:
                    ball = ev(exprs[i])
                except NotCertified:
                    continue
                except (_Undecided, ValueError, ZeroDivisionError, OverflowError):
                    again.append(i)
                    continue
                out[i] = ball
                if not settled(ball, prec):
                    again.append(i)
        if prec >= MAX_BITS:
            break
        todo, prec = again, min(2 * prec, MAX_BITS)
    for i, b in enumerate(out):  # still too wide at MAX_BITS: valid, but the old path decides
        if b is not None and not usable(b):
            out[i] = None
    return out, prec


def adaptive(compute: Callable[[Evaluator], list[Any]], point: dict[Any, Any]) -> list[Any] | None:
    """``compute(evaluator)`` (a list of balls) at doubling precision until every ball is
    settled; None when some entry has no finite ball (``NotCertified``, or still undecided
    or not finite at ``MAX_BITS``)."""
    _flint()  # Unavailable without python-flint
    prec = START_BITS
    while True:
        with workprec(prec):
            try:
                balls: list[Any] | None = compute(Evaluator(point, prec))
            except NotCertified:
                return None
            except (_Undecided, ValueError, ZeroDivisionError, OverflowError):
                balls = None
        if balls is not None and all(b.is_finite() for b in balls):
            if prec >= MAX_BITS or all(settled(b, prec) for b in balls):
                return balls
        if prec >= MAX_BITS:
            return None
        prec *= 2


# -- balls -> float64 midpoints and radii ------------------------------------------------------
def rounded(balls: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, float]:
    """float64 values (the midpoints rounded to nearest), radii that bound |exact - value|
    (the ball's radius plus the rounding, rounded up), and the certified decimal digits
    (min over the entries of -log10(radius/|value|), or of -log10(radius) for a ball around 0;
    inf when every ball is a point).
    An entry whose value overflows float64 gets value nan (the caller treats it as undefined)."""
    f = _flint()
    vals = np.empty(len(balls))
    rad = np.empty(len(balls))
    digits = math.inf
    with workprec(max(START_BITS, 2 * TARGET_BITS)):
        for i, b in enumerate(balls):
            v = float(b.mid())
            if not math.isfinite(v):
                vals[i], rad[i] = math.nan, math.inf
                continue
            vals[i] = v
            if b.is_exact() and b.mid() == f.arb(v):
                rad[i] = 0.0
                continue
            hi = float(abs(b - f.arb(v)).upper())
            rad[i] = math.nextafter(hi, math.inf)  # float() rounds to nearest: step up once
            if not b.is_exact():  # relative digits; absolute ones for a ball around 0
                bits = b.rel_accuracy_bits() if not b.contains(0) else -math.log2(max(float(b.rad()), 1e-300))
                digits = min(digits, bits * math.log10(2))
    return vals, rad, digits


def digits_text(digits: float) -> str:
    """``exact`` or ``certified to N digits``."""
    if math.isinf(digits):
        return "exact"
    return f"certified to {max(0, int(math.floor(digits)))} digits"

"""Rounding models of the nodes ``_rounding._Walker`` does not treat as a plain formula.

Each model returns ``(v, c)``: the node's value and first-order error coefficient
(|error| <= u c, ``_rounding``'s convention) for what torch computes, not for SymPy's form:

- ``Piecewise`` (``elu``, ``selu``, ``where``, ...): the branch in use at the point, walked as a
  formula. A condition within rounding of its switch is not modelled (the kink code handles
  the switch itself; the default tolerance judges the rest).
- ``Sinc`` and ``SincDerivative(n, x)``: the n-th derivative of ``sin(pi t)/(pi t)`` written
  out and walked at ``t = x``. torch's backward is ``(pi x cos(pi x) - sin(pi x)) / (pi x**2)``
  (``tools/autograd/derivatives.yaml``): the same cancellation, near 0 an error ~ u/|x|.
- ``LogAbsGamma`` (``lgamma``): log|Gamma|, derivative digamma; charged ``FUNCTION_ULPS``.
- ``polygamma(k, x)`` (``digamma`` is k = 0): derivative ``polygamma(k + 1, x)``. torch's
  ``calc_digamma`` (``aten/src/ATen/native/Math.h``) sums ``-1/(x+i)`` up to x >= 10, adds the
  asymptotic series and, for x < 0.5, the reflection ``pi / tan(pi x)``; ``trigamma`` likewise
  with ``pi**2 / sin(pi x)**2``. Their result's absolute error is at most (number of terms) u
  times the sum of the magnitudes of those terms (Higham, *Accuracy and Stability*, 2nd ed.,
  (3.4)), which exceeds
  u |psi| near a root of psi (x ~ 1.4616): that sum is charged, not |psi| alone. torch's
  trigamma (digamma's derivative) also truncates its asymptotic series: ~1e-9 absolute, charged.

``softplus_threshold``: torch's softplus "reverts to the linear function when input * beta >
threshold" (``torch.nn.Softplus``, threshold 20): above it torch returns ``w`` for
``log(1 + exp(w))``, 1 for its derivative and 0 for its second. Each differs from the exact
value by less than ``exp(-w)``, which is what a relative error ``exp(-w)`` on the node
``1 + exp(w)`` of SymPy's form accounts for; that node is charged it where ``w > 20`` (2e-9
relative at most: far below any derivative bug, above float64's rounding there).

``FROM_OUTPUT``: torch functions whose backward starts from the rounded output ``y`` where the
derivative is a cancellation in ``y`` (derivatives.yaml: ``expm1``: ``grad * (result + 1)``;
``sigmoid``: ``y (1 - y)``; ``silu`` and ``mish``: ``s (1 + x (1 - s))`` with ``s = sigmoid(x)``).
With |dy| <= u |y| and y ~ 1, ``1 - y`` or ``y + 1`` carry an absolute error u however small the
exact derivative (Higham §1.7, cancellation exposes earlier rounding). SymPy writes these
derivatives with ``exp(w)`` (``exp(-x)/(1 + exp(-x))**2``), so in problems using them every
``exp`` node is charged an absolute ``FROM_OUTPUT_ULPS`` (u each) on top of its relative error.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import mpmath
import sympy as sp

if TYPE_CHECKING:
    from ._rounding import _Walker


class Unknown(Exception):
    """A node this bound does not model (the entry falls back to the default tolerance)."""


# value and derivative of each elementary function, by its class name in SymPy and SymEngine
_UNARY: dict[str, tuple[Any, Any]] = {
    "sin": (mpmath.sin, mpmath.cos), "cos": (mpmath.cos, lambda v: -mpmath.sin(v)),
    "tan": (mpmath.tan, lambda v: mpmath.sec(v) ** 2), "exp": (mpmath.exp, mpmath.exp),
    "log": (mpmath.log, lambda v: 1 / v), "sinh": (mpmath.sinh, mpmath.cosh),
    "cosh": (mpmath.cosh, mpmath.sinh), "tanh": (mpmath.tanh, lambda v: mpmath.sech(v) ** 2),
    "asin": (mpmath.asin, lambda v: 1 / mpmath.sqrt(1 - v * v)),
    "acos": (mpmath.acos, lambda v: -1 / mpmath.sqrt(1 - v * v)),
    "atan": (mpmath.atan, lambda v: 1 / (1 + v * v)),
    "erf": (mpmath.erf, lambda v: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-v * v)),
    "erfc": (mpmath.erfc, lambda v: -2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-v * v)),
    "Abs": (abs, lambda v: mpmath.sign(v)), "sign": (mpmath.sign, lambda v: 0),
    "Heaviside": (lambda v: mpmath.mpf(1) if v > 0 else mpmath.mpf(0) if v < 0 else mpmath.mpf(0.5), lambda v: 0),
}


def _flt_power(a: float, b: float) -> float:
    r = a**b
    if isinstance(r, complex):
        raise Unknown("complex power")
    return r


_UNARY_FLOAT: dict[str, tuple[Any, Any]] = {
    "sin": (math.sin, math.cos), "cos": (math.cos, lambda v: -math.sin(v)),
    "tan": (math.tan, lambda v: 1 / math.cos(v) ** 2), "exp": (math.exp, math.exp),
    "log": (math.log, lambda v: 1 / v), "sinh": (math.sinh, math.cosh),
    "cosh": (math.cosh, math.sinh), "tanh": (math.tanh, lambda v: 1 / math.cosh(v) ** 2),
    "asin": (math.asin, lambda v: 1 / math.sqrt(1 - v * v)),
    "acos": (math.acos, lambda v: -1 / math.sqrt(1 - v * v)),
    "atan": (math.atan, lambda v: 1 / (1 + v * v)),
    "erf": (math.erf, lambda v: 2 / math.sqrt(math.pi) * math.exp(-v * v)),
    "erfc": (math.erfc, lambda v: -2 / math.sqrt(math.pi) * math.exp(-v * v)),
    "Abs": (abs, lambda v: math.copysign(1.0, v) if v else 0.0),
    "sign": (lambda v: math.copysign(1.0, v) if v else 0.0, lambda v: 0.0),
    "Heaviside": (lambda v: 1.0 if v > 0 else 0.0 if v < 0 else 0.5, lambda v: 0.0),
}


FROM_OUTPUT = frozenset({"expm1", "sigmoid", "silu", "mish", "swish"})
FROM_OUTPUT_ULPS = 2

_RELATIONS = {"StrictLessThan": lambda d: d < 0, "LessThan": lambda d: d <= 0,
              "StrictGreaterThan": lambda d: d > 0, "GreaterThan": lambda d: d >= 0,
              "Equality": lambda d: d == 0, "Unequality": lambda d: d != 0}


SOFTPLUS_THRESHOLD = 20  # torch.nn.functional.softplus's default


def softplus_threshold(w: _Walker, args: Any, vals: list[Any]) -> Any:
    """Extra error coefficient of a sum ``1 + exp(t)`` where ``t > 20`` (see the module
    docstring); 0 for any other sum. ``vals`` are the two terms' values."""
    names = [type(a).__name__ for a in args]
    if len(args) != 2 or not any(getattr(a, "is_Integer", False) and int(a) == 1 for a in args):
        return 0
    e = vals[1] if names[0] in ("One", "Integer") else vals[0]
    other = args[1] if names[0] in ("One", "Integer") else args[0]
    name = type(other).__name__
    is_exp = name == "exp" or (name == "Pow" and type(other.args[0]).__name__ == "Exp1")
    if not is_exp or not e > math.exp(SOFTPLUS_THRESHOLD):
        return 0
    return (1 + 1 / e) / w.u  # |1 + e| * exp(-t) / u, without overflow


def _unknown(what: str) -> Exception:
    return Unknown(what)


def _holds(w: _Walker, cond: Any) -> bool:
    """The truth of a Piecewise condition at the point; Unknown within rounding of the switch."""
    name = type(cond).__name__
    if name == "BooleanTrue" or cond is True:
        return True
    if name == "BooleanFalse" or cond is False:
        return False
    if name == "And":
        return all(_holds(w, c) for c in cond.args)
    if name == "Or":
        return any(_holds(w, c) for c in cond.args)
    if name == "Not":
        return not _holds(w, cond.args[0])
    test = _RELATIONS.get(name)
    if test is None:
        raise _unknown(f"condition {name}")
    (a, ea), (b, eb) = w(cond.args[0]), w(cond.args[1])
    d = a - b
    if d != 0 and abs(d) <= 8 * w.u * (ea + eb):  # too close to the switch to tell the branch
        raise _unknown("a point within rounding of a switch")
    return bool(test(d))


def _piecewise(w: _Walker, node: Any) -> tuple[Any, Any]:
    for pair in node.args:
        expr, cond = pair.args
        if _holds(w, cond):
            return w(expr)
    raise _unknown("no branch of a Piecewise holds")


_T = sp.Symbol("_t", real=True)


@lru_cache(maxsize=16)
def _sinc_formula(n: int) -> Any:
    f = sp.sin(sp.pi * _T) / (sp.pi * _T)
    return sp.diff(f, _T, n) if n else f


def _template(w: _Walker, formula: Any, arg: tuple[Any, Any]) -> tuple[Any, Any]:
    """Walk ``formula`` (in the symbol ``_t``) with ``_t`` given the value and error ``arg``."""
    from ._rounding import _Walker

    sub = _Walker({}, w.u, w.m.fast, w.from_output)
    sub.memo[_T] = arg
    return sub(formula)


def _sinc(w: _Walker, node: Any) -> tuple[Any, Any]:
    if w(node.args[0])[0] == 0:
        raise _unknown("sinc at 0")  # its limit: the default tolerance judges
    return _template(w, _sinc_formula(0), w(node.args[0]))


def _sinc_derivative(w: _Walker, node: Any) -> tuple[Any, Any]:
    order = node.args[0]
    if not getattr(order, "is_Integer", False) or not 0 <= int(order) <= 6:
        raise _unknown("sinc derivative order")
    arg = w(node.args[1])
    if arg[0] == 0:
        raise _unknown("sinc derivative at 0")
    return _template(w, _sinc_formula(int(order)), arg)


def _psi(k: int, x: Any, fast: bool) -> Any:
    v = mpmath.psi(k, x)
    return float(v) if fast else v


def _lgamma(w: _Walker, node: Any) -> tuple[Any, Any]:
    from ._rounding import FUNCTION_ULPS

    x, ex = w(node.args[0])
    if x <= 0 and x == int(x):
        raise _unknown("lgamma at a pole")
    v = math.lgamma(x) if w.m.fast else mpmath.log(abs(mpmath.gamma(x)))
    return v, abs(_psi(0, x, w.m.fast)) * ex + FUNCTION_ULPS * (abs(v) + (1 if x < 0 else 0))


def _terms(k: int, x: Any, fast: bool) -> Any:
    """The magnitudes torch's recurrence, series and reflection add up for polygamma(k, x)."""
    one = 1.0 if fast else mpmath.mpf(1)
    total = abs(_psi(k, x, fast))
    if k > 1:
        return total
    y = x
    if x < 0.5:  # reflection: psi(1 - x) and pi/tan(pi x) (k = 0), pi**2/sin(pi x)**2 (k = 1)
        s = mpmath.sin(mpmath.pi * x)
        refl = mpmath.pi / abs(mpmath.tan(mpmath.pi * x)) if k == 0 else mpmath.pi ** 2 / s ** 2
        total += (float(refl) if fast else refl) + abs(_psi(k, 1 - x, fast))
        y = 1 - x
    steps = 0
    while y < 10 and steps < 64:  # the recurrence up to the asymptotic range
        total += one / abs(y) ** (k + 1)
        y += 1
        steps += 1
    if k == 0:
        total += abs(mpmath.log(y)) if not fast else abs(math.log(y))
    return (steps + 3) * total  # recursive summation: each partial sum is at most the total


def _trigamma_truncation(x: Any) -> float:
    """The absolute error of torch's ``calc_trigamma`` series: six recurrence steps, then
    ``1/y + 1/(2y**2) + 1/(6y**3) - 1/(30y**5) + 1/(42y**7)``; the first term left out is
    ``1/(30 y**9)`` (Bernoulli B_8), twice that bounds the rest (1.5e-9 at x = 0.5, float64)."""
    y = float(1 - x if x < 0.5 else x) + 6
    return 2 / (30 * y**9)


def _polygamma(w: _Walker, node: Any) -> tuple[Any, Any]:
    from ._rounding import FUNCTION_ULPS

    order = node.args[0]
    if not getattr(order, "is_Integer", False) or int(order) < 0:
        raise _unknown("polygamma order")
    k = int(order)
    x, ex = w(node.args[1])
    if x <= 0 and x == int(x):
        raise _unknown("polygamma at a pole")
    v = _psi(k, x, w.m.fast)
    err = abs(_psi(k + 1, x, w.m.fast)) * ex + FUNCTION_ULPS * _terms(k, x, w.m.fast)
    if k == 1:
        err += _trigamma_truncation(x) / w.u  # in units of u, as every coefficient here
    return v, err


SPECIAL = {"Piecewise": _piecewise, "Sinc": _sinc, "SincDerivative": _sinc_derivative,
           "LogAbsGamma": _lgamma, "polygamma": _polygamma}

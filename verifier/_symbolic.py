"""The symbolic side: SymPy interpretation, derivatives, and exact evaluation.

Arrays are numpy object arrays of SymPy expressions, so broadcasting, indexing and
``.T`` follow numpy exactly. Every input element is a real SymPy symbol; derivatives
are taken once, symbolically, and then evaluated at a point by ``xreplace`` with the
exact rational value of each input element (``Rational(float)`` is exact).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from . import _derivatives
from . import _symfunctions as fns
from ._expr import written_cancellation
from ._functions import SYMPY_ONLY
from ._kinks import Kink, branches, is_zero_at, kinks_hit

__all__ = ["Kink", "branches", "is_zero_at", "kinks_hit"]  # re-exported: kinks are decided in _kinks
from ._interpret import evaluate

Obj = np.ndarray  # an object array of SymPy expressions


def obj(value: Any) -> Obj:
    """Wrap a SymPy expression (or array-like of them) as an object array."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return value
    if isinstance(value, np.ndarray):
        out = np.empty(value.shape, dtype=object)
        for idx in np.ndindex(value.shape):
            out[idx] = value[idx]
        return out
    out = np.empty((), dtype=object)
    out[()] = value
    return out


def emap(fn: Any, *arrays: Obj) -> Obj:
    """Apply ``fn`` elementwise with numpy broadcasting."""
    arrays = tuple(obj(a) for a in arrays)
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    views = [np.broadcast_to(a, shape) for a in arrays]
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = fn(*(v[idx] for v in views))
    return out


def _along(x: Obj, axis: int | None, fn: Any, keepdims: bool = False) -> Obj:
    """Reduce ``x`` along ``axis`` (all elements when None) with ``fn(list) -> expr``."""
    if axis is None:
        out = obj(fn(list(x.flat)))
        return out.reshape((1,) * x.ndim) if keepdims else out
    moved = np.moveaxis(x, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1]) if moved.size else moved.reshape(0, moved.shape[-1])
    out = np.empty(rows.shape[0], dtype=object)
    for i, row in enumerate(rows):
        out[i] = fn(list(row))
    out = out.reshape(moved.shape[:-1])
    return np.expand_dims(out, axis) if keepdims else out




def _unary(lib: Any) -> dict[str, Any]:
    """The smooth elementwise functions, in SymPy or SymEngine (same names in both)."""
    return {
        "sin": lib.sin, "cos": lib.cos, "tan": lib.tan, "asin": lib.asin, "acos": lib.acos,
        "atan": lib.atan, "sinh": lib.sinh, "cosh": lib.cosh, "tanh": lib.tanh, "exp": lib.exp,
        "log": lib.log, "log1p": lambda u: lib.log(1 + u), "expm1": lambda u: lib.exp(u) - 1,
        "sqrt": lib.sqrt, "sigmoid": lambda u: 1 / (1 + lib.exp(-u)),
        "softplus": lambda u: lib.log(1 + lib.exp(u)), "erf": lib.erf,
    }


NONSMOOTH_FUNCTIONS = SYMPY_ONLY  # kinks, Piecewise, or functions SymEngine lacks


_CORE = frozenset(_unary(sp)) | {"atan2", "abs", "sign", "relu", "max", "min", "sum", "mean", "prod",
                                  "logsumexp", "softmax", "dot", "norm"}


_NP_FLOATS = {"float64": np.float64, "float32": np.float32, "float16": np.float16}


def literal(value: int | float, dtype: str | None) -> Fraction:
    """The exact value a number literal stands for.

    With a ``dtype``, the float torch computes with: a Python number meets a tensor of that
    dtype rounded to it, so ``1e23`` is 99999999999999991611392 in float64 (and an integer
    keeps its value when the dtype holds it exactly). Without one, the decimal as written
    (``0.1`` is 1/10), for statements made by people such as ``expect``.
    """
    if dtype is None or dtype not in _NP_FLOATS:
        return Fraction(value) if type(value) is int else Fraction(repr(value))
    rounded: Any = _NP_FLOATS[dtype](value)
    if type(value) is int and np.isfinite(rounded) and int(rounded) == value:
        return Fraction(value)
    if not np.isfinite(rounded):  # out of the dtype's range: torch computes with inf
        return Fraction(value) if type(value) is int else Fraction(repr(value))
    return Fraction(float(rounded))


@dataclass
class SymOps:
    """The symbolic backend of the interpreter: SymPy, or SymEngine (``lib``) for problems
    without non-smooth functions. Records every kink it builds (SymPy only)."""

    kinks: list[Kink] = field(default_factory=list)
    lib: Any = sp
    # The dtype whose floats the literals stand for (what torch computes with), or None for
    # decimal literals read exactly (0.1 means 1/10: inputs, expect, printing).
    literal_dtype: str | None = None

    # Keep a sum whose terms cancel as written ((x + C) - C), unevaluated, so that the rounding
    # bound sees the intermediate torch rounds (SymPy only; red-team F7). The value is unchanged.
    keep_sums: bool = False

    def __post_init__(self) -> None:
        self.unary = _unary(self.lib)

    def _add(self, items: list[Any]) -> Any:
        return self.lib.Add(*items)

    def _mul(self, items: list[Any]) -> Any:
        return self.lib.Mul(*items)

    def number(self, value: int | float) -> Obj:
        q = literal(value, self.literal_dtype)
        return obj(self.lib.Integer(q.numerator) if q.denominator == 1 else
                   self.lib.Rational(q.numerator, q.denominator))

    def constant(self, name: str) -> Obj:
        return obj({"pi": self.lib.pi, "e": self.lib.E, "I": self.lib.I}[name])

    def shape(self, value: Obj) -> tuple[int, ...]:
        return tuple(value.shape)

    def binary(self, op: str, a: Obj, b: Obj) -> Obj:
        fn = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
              "/": lambda x, y: x / y, "**": lambda x, y: x**y}[op]
        if op in "+-" and self.keep_sums:
            return emap(lambda x, y: _kept_sum(x, self.neg(obj(y)).flat[0] if op == "-" else y), a, b)
        if op in "*/" and self.keep_sums:  # -(s)*2 or s/2 would distribute over a kept sum and fold it
            return emap(lambda x, y: sp.Mul(x, y if op == "*" else sp.Pow(y, -1), evaluate=False)
                        if _is_kept(x) or _is_kept(y) else fn(x, y), a, b)
        return emap(fn, a, b)

    def neg(self, a: Obj) -> Obj:
        if self.keep_sums:
            return emap(lambda x: sp.Mul(-1, x, evaluate=False) if _is_kept(x) else -x, a)
        return emap(lambda x: -x, a)

    def matmul(self, a: Obj, b: Obj) -> Obj:
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        out = np.empty((a2.shape[0], b2.shape[1]), dtype=object)
        for i in range(a2.shape[0]):
            for j in range(b2.shape[1]):
                out[i, j] = self.lib.Add(*(a2[i, k] * b2[k, j] for k in range(a2.shape[1])))
        if a.ndim == 1:
            out = out[0]
        if b.ndim == 1:
            out = out[..., 0]
        return obj(out)

    def index(self, a: Obj, key: tuple[Any, ...]) -> Obj:
        return obj(a[key])

    def transpose(self, a: Obj) -> Obj:
        return a.T

    def stack(self, items: list[Obj], shape: tuple[int, ...]) -> Obj:
        return np.stack([np.broadcast_to(i, shape) for i in items]).astype(object)

    def check(self, value: Obj, what: str, node: Any) -> None:
        return None

    def compare(self, op: str, a: Obj, b: Obj) -> Obj:
        return fns.compare(op, a, b)

    def logic(self, op: str, a: Obj, b: Obj | None) -> Obj:
        return fns.logic(op, a, b)

    def call(self, name: str, args: list[Obj], axis: int | None, opts: dict[str, Any] | None = None) -> Obj:
        if name not in _CORE:
            return fns.call(self, name, args, axis, opts or {})
        x = args[0]
        if name in self.unary:
            return emap(self.unary[name], x)
        if name == "atan2":
            return emap(self.lib.atan2, args[0], args[1])
        if name == "abs":
            return emap(lambda u: self._kink(sp.Abs(u), [u], -u, u), x)
        if name == "sign":
            return emap(lambda u: self._kink(sp.sign(u), [u], sp.Integer(-1), sp.Integer(1), True), x)
        if name == "relu":
            return emap(lambda u: self._kink(sp.Max(0, u), [u], sp.Integer(0), u), x)
        if name in ("max", "min") and len(args) == 2:
            return emap(lambda a, b: fns.extremum(self, name, a, b), args[0], args[1])
        if name in ("max", "min"):
            f = sp.Max if name == "max" else sp.Min
            return _along(x, axis, lambda items: self._extremum(f, items))
        lib = self.lib
        if name == "sum":
            return _along(x, axis, self._add)
        if name == "mean":
            n = x.size if axis is None else x.shape[axis]
            return emap(lambda s: s / lib.Integer(n), _along(x, axis, self._add))
        if name == "prod":
            return _along(x, axis, self._mul)
        if name == "logsumexp":
            return emap(lib.log, _along(emap(lib.exp, x), axis, self._add))
        if name == "softmax":
            ex = emap(lib.exp, x)
            return emap(lambda a, b: a / b, ex, _along(ex, axis, self._add, keepdims=True))
        if name == "dot":
            return obj(lib.Add(*(a * b for a, b in zip(args[0].flat, args[1].flat))))
        if name == "norm":
            return obj(lib.sqrt(lib.Add(*(u**2 for u in x.flat))))
        raise AssertionError(f"unhandled function {name}")  # the parser rejects unknown names

    def _kink(self, node: Any, switch: list[Any], left: Any, right: Any, discontinuous: bool = False,
              relation: Any = None, label: str = "") -> Any:
        if node.free_symbols:
            self.kinks.append(Kink(node, switch, left, right, discontinuous, relation, label))
        return node

    def _extremum(self, f: Any, items: list[Any]) -> Any:
        node = f(*items)
        if len(items) > 1 and not node.is_number:
            # Tied extremes pick a branch each; first and last of the tied ones bracket them.
            self.kinks.append(Kink(node, list(items), None, None))
        return node


def _is_kept(e: Any) -> bool:
    """Whether ``e`` is a sum kept unevaluated by ``_kept_sum`` (re-adding its terms folds it)."""
    return isinstance(e, sp.Add) and len(sp.Add.make_args(sp.Add(*e.args))) < len(e.args)


def _kept_sum(a: Any, b: Any) -> Any:
    """``a + b``, unevaluated where SymPy's folding would drop a term that cancels (a written
    ``(x + C) - C`` is ``x`` in value, but torch rounds ``x + C`` first)."""
    out = a + b
    if a.is_number and b.is_number:
        return out
    if len(sp.Add.make_args(out)) < len(sp.Add.make_args(a)) + len(sp.Add.make_args(b)):
        return sp.Add(a, b, evaluate=False)
    return out


def symbols_for(name: str, shape: tuple[int, ...], lib: Any = sp) -> Obj:
    """Symbols ``x`` (scalar), ``x[0]``, ``w[1,2]`` ... for every element; real ones in SymPy."""
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        label = name if not shape else f"{name}[{','.join(map(str, idx))}]"
        out[idx] = sp.Symbol(label, real=True) if lib is sp else lib.Symbol(label)
    return out


TRANSCENDENTAL = frozenset(_unary(sp)) - {"sqrt"} | {
    "atan2", "logsumexp", "softmax", "log_softmax", "logit", "gelu", "silu", "mish", "erfc", "cross_entropy",
    "binary_cross_entropy", "binary_cross_entropy_with_logits"}


def uses(exprs: Iterable[Any], functions: frozenset[str], names: frozenset[str] = frozenset()) -> bool:
    """Whether any expression calls one of ``functions`` or mentions one of ``names``."""
    return any((isinstance(node, ast.Call) and getattr(node.func, "id", None) in functions)
               or (isinstance(node, ast.Name) and node.id in names)
               for e in exprs for node in ast.walk(e.tree))


def exact(value: float | int | np.floating) -> sp.Rational:
    """The exact binary value of a float, as a rational."""
    return sp.Rational(float(value)) if not isinstance(value, (int, np.integer)) else sp.Integer(int(value))


def exact_array(values: np.ndarray) -> Obj:
    return emap(exact, obj(np.asarray(values, dtype=np.float64)))


class SymbolicModel:
    """Symbolic targets and derivatives of one problem, built once and cached."""

    def __init__(self, defines: dict[str, Any], shapes: dict[str, tuple[int, ...]],
                 constants: dict[str, np.ndarray], literal_dtype: str | None = None) -> None:
        self.defines = defines  # name -> Expr, in order
        se = accelerator()
        # Build in SymEngine when it can differentiate everything; kinks need SymPy.
        # (SymEngine cannot differentiate abs, sign, relu, max or min.)
        # A written cancellation ((x + C) - C) needs SymPy's unevaluated sums (F7).
        cancels = any(written_cancellation(e) for e in defines.values())
        self.lib = se if se is not None and not cancels and not uses(defines.values(), NONSMOOTH_FUNCTIONS) else sp
        self.symbols = {n: symbols_for(n, s, self.lib) for n, s in shapes.items()}
        self.constants = {n: self._native(exact_array(v)) for n, v in constants.items()}
        self.ops = SymOps(lib=self.lib, literal_dtype=literal_dtype, keep_sums=cancels)
        # Rational expressions are evaluated exactly; transcendental ones in 256-bit MPFR.
        transcendental = uses(defines.values(), TRANSCENDENTAL, frozenset({"e", "pi"}))
        self.bits = 256 if self.lib is not sp and transcendental else None
        self._envs: dict[frozenset[str], dict[str, Obj]] = {}
        self._cache: dict[Any, Any] = {}

    def env(self, cut: frozenset[str] = frozenset(), cut_shapes: dict[str, tuple[int, ...]] | None = None
            ) -> dict[str, Obj]:
        """Inputs as symbols, then each define; defines in ``cut`` become fresh symbols."""
        if cut not in self._envs:
            env: dict[str, Obj] = {**self.symbols, **self.constants}
            for name, expr in self.defines.items():
                if name in cut:
                    assert cut_shapes is not None
                    env[name] = symbols_for(name, cut_shapes[name], self.lib)
                else:
                    env[name] = obj(evaluate(expr.tree, env, self.ops))
            self._envs[cut] = env
        return self._envs[cut]

    def _native(self, arr: Obj) -> Obj:
        return arr if self.lib is sp else emap(self.lib.S, arr)

    def wrt_symbols(self, env: dict[str, Obj], wrt: Sequence[str]) -> list[sp.Symbol]:
        return [s for w in wrt for s in env[w].flat]

    def cached(self, key: Any, build: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]


# ---- differentiation and exact evaluation, in SymPy or (faster) SymEngine ------------------

_NONSMOOTH = (sp.Abs, sp.Max, sp.Min, sp.sign, *fns.SYMPY_CLASSES)


def accelerator() -> Any:
    """SymEngine when it is installed, unless ``VERIFIER_SYMBOLIC=sympy`` asks for SymPy only."""
    if os.environ.get("VERIFIER_SYMBOLIC", "auto").lower() == "sympy":
        return None
    try:
        import symengine
    except ImportError:
        return None
    return symengine


def fast(exprs: Sequence[Any], syms: Sequence[Any], se: Any) -> tuple[list[Any], list[Any]]:
    """The same expressions and symbols in SymEngine (54x-48,000x faster to differentiate and
    evaluate), or unchanged where SymEngine cannot differentiate them (abs, max, min, sign)."""
    if se is None or any(isinstance(e, sp.Basic) and e.has(*_NONSMOOTH) for e in exprs):
        return list(exprs), list(syms)
    if any(isinstance(e, sp.Basic) and _has_kept_sum(e) for e in exprs):
        return list(exprs), list(syms)  # SymEngine would fold a written cancellation (F7)
    return [se.S(e) for e in exprs], [se.S(s) for s in syms]


def _has_kept_sum(e: Any) -> bool:
    """Whether ``e`` holds a sum kept unevaluated by ``_kept_sum`` (re-adding its terms folds it)."""
    return any(_is_kept(n) for n in sp.preorder_traversal(e) if isinstance(n, sp.Add))


def gradient(expr: Any, syms: Sequence[Any]) -> list[Any]:
    return _derivatives.gradient(expr, syms)


def hessian_from_gradient(grad: list[Any], syms: Sequence[Any]) -> list[list[Any]]:
    """The Hessian from the cached gradient (``_derivatives``: sparsity pattern, chain rule)."""
    return _derivatives.hessian_from_gradient(grad, syms)


def jacobian(exprs: Iterable[Any], syms: Sequence[Any]) -> list[list[Any]]:
    return _derivatives.jacobian(exprs, syms)

"""The exact reference of the language's functions added with issue 10 (SymPy, or SymEngine where noted).

Each function mirrors the torch function named in ``_functions.FUNCTIONS``. Piecewise ones
(``where``, ``clamp``, ``maximum``/``minimum``, ``hardtanh``, ``leaky_relu``, ``elu``, ``selu``,
``huber``, ``softsign``) record a kink for every switch, like ``abs``/``relu``/``max``: at the
switch the check is ``nondifferentiable`` with the one-sided values. Away from a switch the
derivative is that of the branch in use, exactly: ``where``'s unused branch never contributes
(torch's ``0 * nan`` from it is a failure, not the reference).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp
from sympy.core.relational import Relational

from ._expr import ExprError

if TYPE_CHECKING:
    from ._symbolic import SymOps

Obj = np.ndarray

# torch's SELU constants (aten/src/ATen/native/Activation.cpp), as the float64 values torch uses.
SELU_ALPHA = sp.Rational(1.6732632423543772848170429916717)
SELU_SCALE = sp.Rational(1.0507009873554804934193349852946)

RELATIONS = {"<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge, "==": sp.Eq, "!=": sp.Ne}
# The truth of a comparison ``lhs OP rhs`` where lhs - rhs < 0, and where it is > 0.
_SIDES = {sp.StrictLessThan: (True, False), sp.LessThan: (True, False), sp.StrictGreaterThan: (False, True),
          sp.GreaterThan: (False, True), sp.Equality: (False, False), sp.Unequality: (True, True)}


class Sinc(sp.Function):
    """torch.sinc: sin(pi x)/(pi x), with sinc(0) = 1 and every derivative at 0 its limit."""

    @classmethod
    def eval(cls, x: Any) -> Any:
        if x.is_zero:
            return sp.Integer(1)
        if x.is_number:
            return sp.sin(sp.pi * x) / (sp.pi * x)
        return None

    def fdiff(self, argindex: int = 1) -> Any:
        return SincDerivative(sp.Integer(1), self.args[0])


class SincDerivative(sp.Function):
    """The n-th derivative of sinc. At 0: (-1)**k pi**(2k) / (2k+1) for n = 2k, 0 for odd n
    (from sinc(x) = sum_k (-1)**k (pi x)**(2k) / (2k+1)!)."""

    @classmethod
    def eval(cls, n: Any, x: Any) -> Any:
        if not x.is_number:
            return None
        k = int(n)
        if x.is_zero:
            return sp.Integer(0) if k % 2 else (-1) ** (k // 2) * sp.pi ** k / (k + 1)
        t = sp.Dummy("t")
        return sp.diff(sp.sin(sp.pi * t) / (sp.pi * t), t, k).xreplace({t: x})

    def fdiff(self, argindex: int = 2) -> Any:
        return SincDerivative(self.args[0] + 1, self.args[1])


class LogAbsGamma(sp.Function):
    """torch.lgamma: log|Gamma(x)|, real for every x that is not a pole; its derivative is digamma."""

    @classmethod
    def eval(cls, x: Any) -> Any:
        if not x.is_number:
            return None
        if x.is_integer and x.is_nonpositive:
            return sp.zoo  # a pole: undefined, never a number
        return sp.loggamma(x) if x.is_positive else sp.log(sp.Abs(sp.gamma(x)))

    def fdiff(self, argindex: int = 1) -> Any:
        return sp.polygamma(0, self.args[0])


SYMPY_CLASSES = (sp.Piecewise, Sinc, SincDerivative, LogAbsGamma)


def _emap(fn: Any, *arrays: Any) -> Obj:
    from ._symbolic import emap

    return emap(fn, *arrays)


def _objects(items: Any) -> Any:
    return np.asarray(items, dtype=object)


def _scalar(a: Obj) -> Any:
    return np.asarray(a, dtype=object).flat[0]


def where(ops: SymOps, c: Any, a: Any, b: Any, label: str = "") -> Any:
    """One element of torch.where: a Piecewise whose every comparison is a recorded kink."""
    if c is sp.true:
        return a
    if c is sp.false:
        return b
    node = sp.Piecewise((a, c), (b, True))
    if not isinstance(node, sp.Piecewise):
        return node
    atoms: set[Any] = set()
    for piece in node.args:
        atoms |= piece.cond.atoms(Relational)
    for atom in sorted(atoms, key=sp.default_sort_key):
        neg, pos = _SIDES.get(type(atom), (None, None))
        if neg is None:
            continue
        ops._kink(node, [atom.lhs - atom.rhs], node.xreplace({atom: sp.S(neg)}),
                  node.xreplace({atom: sp.S(pos)}), relation=(atom, neg, pos), label=label or f"where({atom})")
    return node


def extremum(ops: SymOps, name: str, a: Any, b: Any, label: str = "") -> Any:
    """maximum/minimum of two elements; ``left`` is the branch where a < b."""
    label = label or f"{name}({a}, {b})"
    if name in ("max", "maximum"):
        return ops._kink(sp.Max(a, b), [a, b], b, a, label=label)
    return ops._kink(sp.Min(a, b), [a, b], a, b, label=label)


def clamp(ops: SymOps, x: Any, lo: Any, hi: Any, name: str = "clamp") -> Any:
    """torch.clamp(x, lo, hi) = min(max(x, lo), hi)."""
    u = x
    if lo is not None:
        x = extremum(ops, "max", x, lo, f"{name}({u}) at its lower bound {lo}")
    if hi is not None:
        x = extremum(ops, "min", x, hi, f"{name}({u}) at its upper bound {hi}")
    return x


def _mean(lib: Any, items: list[Any]) -> Any:
    return lib.Add(*items) / lib.Integer(len(items)) if items else sp.nan


def _log_softmax(lib: Any, row: list[Any]) -> list[Any]:
    lse = lib.log(lib.Add(*(lib.exp(u) for u in row)))
    return [u - lse for u in row]


def _index(t: Any, classes: int, name: str) -> int:
    """A class index: an exact integer in [0, classes), known when the reference is built."""
    if not getattr(t, "is_number", False):
        raise ExprError(f"{name}()'s class-index target must be a constant (put it under constants:)")
    if not (t.is_integer and 0 <= int(t) < classes):
        raise ExprError(f"{name}()'s target {t} is not a class index in 0..{classes - 1}")
    return int(t)


def classification(ops: SymOps, name: str, x: Obj, target: Obj) -> Obj:
    """cross_entropy / nll with torch's reduction='mean' over the batch (unweighted)."""
    rows = [list(x.flat)] if x.ndim == 1 else [list(r) for r in x]
    logp = rows if name == "nll" else [_log_softmax(ops.lib, r) for r in rows]
    if target.shape == x.shape:  # class probabilities
        trows = [list(target.flat)] if x.ndim == 1 else [list(r) for r in target]
        losses = [-ops.lib.Add(*(t * lp for t, lp in zip(tr, lr))) for tr, lr in zip(trows, logp)]
    else:
        idx = [_index(t, x.shape[-1], name) for t in target.flat]
        losses = [-lr[i] for lr, i in zip(logp, idx)]
    return np.asarray(_mean(ops.lib, losses), dtype=object).reshape(())


def call(ops: SymOps, name: str, args: list[Any], axis: int | None, opts: dict[str, Any]) -> Obj:
    """Build ``name(*args)`` exactly; the walker already checked the shapes."""
    from ._symbolic import obj

    lib = ops.lib
    x: Any = args[0] if args else None
    if name == "where":
        return _emap(lambda c, a, b: where(ops, c, a, b), *args)
    if name in ("maximum", "minimum"):
        return _emap(lambda a, b: extremum(ops, name, a, b), args[0], args[1])
    if name in ("clamp", "hardtanh"):
        lo, hi = args[1], args[2]
        if name == "hardtanh":
            lo, hi = (obj(sp.Integer(-1)) if lo is None else lo), (obj(sp.Integer(1)) if hi is None else hi)
        parts = [a for a in (x, lo, hi) if a is not None]
        return _emap(lambda u, *b: clamp(ops, u, b[0] if lo is not None else None, b[-1] if hi is not None
                                         else None, name), *parts)
    if name in ("leaky_relu", "elu", "selu"):
        default = sp.Rational(0.01) if name == "leaky_relu" else sp.Integer(1)  # torch's float defaults
        c = _scalar(args[1]) if len(args) > 1 and args[1] is not None else default
        if name == "selu":
            return _emap(lambda u: SELU_SCALE * where(ops, sp.Gt(u, 0), u, SELU_ALPHA * (sp.exp(u) - 1),
                                                      f"selu({u})"), x)
        neg = (lambda u: c * u) if name == "leaky_relu" else (lambda u: c * (sp.exp(u) - 1))
        return _emap(lambda u: where(ops, sp.Gt(u, 0), u, neg(u), f"{name}({u})"), x)
    if name == "softsign":
        return _emap(lambda u: u / (1 + ops._kink(sp.Abs(u), [u], -u, u, label=f"softsign({u})")), x)
    if name == "huber":
        delta = _scalar(args[2]) if args[2] is not None else sp.Integer(1)
        return obj(_mean(lib, [_huber(ops, a - b, delta) for a, b in zip(args[0].flat, args[1].flat)]))
    if name == "mse":
        return obj(_mean(lib, [(a - b) ** 2 for a, b in zip(args[0].flat, args[1].flat)]))
    if name == "binary_cross_entropy":
        pairs = zip(x.flat, args[1].flat)
        return obj(_mean(lib, [-(y * lib.log(p) + (1 - y) * lib.log(1 - p)) for p, y in pairs]))
    if name == "binary_cross_entropy_with_logits":
        return obj(_mean(lib, [lib.log(1 + lib.exp(u)) - u * y for u, y in zip(x.flat, args[1].flat)]))
    if name in ("cross_entropy", "nll"):
        return classification(ops, name, x, args[1])
    if name == "log_softmax":
        if axis is None:
            return _objects(_log_softmax(lib, list(x.flat))).reshape(x.shape)
        moved = np.moveaxis(x, axis, -1)
        out = _objects([_log_softmax(lib, list(r)) for r in moved.reshape(-1, moved.shape[-1])])
        return np.moveaxis(out.reshape(moved.shape), -1, axis)
    if name in _ELEMENTWISE:
        return _emap(_ELEMENTWISE[name](lib), x)
    if name == "cumsum":
        flat = x.reshape(-1) if axis is None else x
        ax = 0 if axis is None else axis
        moved = np.moveaxis(flat, ax, -1)
        out = moved.copy()
        for i in range(1, moved.shape[-1]):
            out[..., i] = _emap(lambda a, b: a + b, out[..., i - 1], moved[..., i])
        return np.moveaxis(out, -1, ax)
    if name == "trace":
        return obj(lib.Add(*(x[i, i] for i in range(min(x.shape)))))
    if name in ("det", "inv"):
        m = sp.Matrix(x.shape[0], x.shape[1], list(x.flat))
        det = m.det(method="berkowitz")
        if name == "det":
            return obj(det)
        return obj(np.asarray((m.adjugate(method="berkowitz") / det).tolist(), dtype=object).reshape(x.shape))
    if name == "outer":
        return _emap(lambda a, b: a * b, args[0][:, None], args[1][None, :])
    if name == "diag":
        if x.ndim == 2:
            return obj(np.asarray([x[i, i] for i in range(min(x.shape))], dtype=object))
        out = np.full((x.shape[0],) * 2, lib.Integer(0), dtype=object)
        for i, u in enumerate(x.flat):
            out[i, i] = u
        return out
    if name == "reshape":
        return obj(x.reshape(opts["shape"]))
    if name == "concatenate":
        return obj(np.concatenate(args[0], axis=axis or 0))
    if name == "stack":
        return obj(np.stack(args[0], axis=axis or 0))
    if name == "eye":
        n = opts["n"]
        out = np.full((n, n), lib.Integer(0), dtype=object)
        for i in range(n):
            out[i, i] = lib.Integer(1)
        return out
    raise AssertionError(f"unhandled function {name}")  # the parser rejects unknown names


def _huber(ops: SymOps, d: Any, delta: Any) -> Any:
    """torch.nn.functional.huber_loss per element: |d| < delta ? d**2/2 : delta (|d| - delta/2)."""
    label = f"huber({d}) at abs({d}) = {delta}"
    outer = where(ops, sp.Gt(d, 0), delta * (d - delta / 2), delta * (-d - delta / 2), label)
    return where(ops, sp.And(sp.Lt(d, delta), sp.Gt(d, -delta)), d**2 / 2, outer, label)


_ELEMENTWISE = {
    "sinc": lambda lib: Sinc,
    "logit": lambda lib: lambda u: lib.log(u / (1 - u)),
    "gelu": lambda lib: lambda u: u / 2 * (1 + lib.erf(u / lib.sqrt(2))),
    "silu": lambda lib: lambda u: u / (1 + lib.exp(-u)),
    "mish": lambda lib: lambda u: u * lib.tanh(lib.log(1 + lib.exp(u))),
    "lgamma": lambda lib: LogAbsGamma,
    "digamma": lambda lib: lambda u: sp.polygamma(0, u),
    "erfc": lambda lib: lib.erfc,
}


def compare(op: str, a: Obj, b: Obj) -> Obj:
    return _emap(lambda u, v: RELATIONS[op](u, v), a, b)


def logic(op: str, a: Obj, b: Obj | None) -> Obj:
    if op == "~":
        return _emap(lambda u: sp.Not(u), a)
    f = sp.And if op == "&" else sp.Or
    return _emap(lambda u, v: f(u, v), a, b)

"""Bounds on what the exact side will make of a formula, found by one forward pass in torch.

``Bounded`` is the op set ``_interpret.evaluate`` runs the formula with: torch's ops plus, for
each value, the degree of its power tower, the size of one element's expression and the
element counts, so that ``_preflight`` can refuse the predictable blowups (``MAX_DEGREE``,
``MAX_EXTREMUM_TERMS``, ``MAX_ELEMENTS``) at the node that causes them, before any symbolic work.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import _autodiff as ad
from ._expr import ExprError
from ._interpret import evaluate
from ._spec import MAX_NDIM

MAX_DEGREE = 1_000_000       # x**1000 raised to 1000 evaluates exactly in about 2 s
MAX_EXTREMUM_TERMS = 16      # max()/min() over one array
MAX_ELEMENTS = 1_000_000     # any intermediate array, like an input
MAX_WORK = 1_000_000_000     # derivative entries x target size: about 10 min at the rate measured (README)


@dataclass
class Bound:
    """A torch value and what the exact side will make of it: its degree (how many times the
    exact value's digits multiply: 1 for a number or an input, exponents multiply along a power
    tower, so ``(2**1000)**1000`` counts like ``(x**1000)**1000``), and the expression size of
    one element."""

    value: Any
    degree: float = 0.0
    size: float = 1.0
    const: float | None = None      # a known scalar, for exponents


class Refused(Exception):
    pass


class Bounded:
    """Ops for ``_interpret.evaluate``: torch's, plus degree, size and element-count bounds."""

    def __init__(self) -> None:
        self.torch = ad.TorchOps(torch.float64, check_domain=True)
        self.pending: str | None = None   # a refusal found by an op that has no node to point at

    # the walker's interface
    def number(self, value: int | float) -> Bound:
        return Bound(self.torch.number(value), 1.0, 1.0, float(value))

    def constant(self, name: str) -> Bound:
        return Bound(self.torch.constant(name), 1.0, 1.0, {"pi": math.pi, "e": math.e}.get(name))

    def shape(self, v: Bound) -> tuple[int, ...]:
        return self.torch.shape(v.value)

    def binary(self, op: str, a: Bound, b: Bound) -> Bound:
        shape = np.broadcast_shapes(self.shape(a), self.shape(b))
        size = a.size + b.size + 1
        if op in "+-":
            degree = max(a.degree, b.degree)
        elif op in "*/":
            degree = a.degree + b.degree
        elif b.const is not None:
            degree = a.degree * max(1.0, abs(b.const))
        else:  # a variable exponent: exp(b log a), its size is what counts
            degree = max(a.degree, b.degree)
        const = _arith(op, a.const, b.const)
        if degree > MAX_DEGREE:
            self.pending = self.pending or (
                f"a power of degree {big(degree)} (limit {big(MAX_DEGREE)}): its exact value "
                "would have too many digits to compute; use smaller exponents")
        if math.prod(shape) > MAX_ELEMENTS:
            return self._too_large(shape, degree, size)
        return Bound(self.torch.binary(op, a.value, b.value), degree, size, const)

    def neg(self, a: Bound) -> Bound:
        return Bound(self.torch.neg(a.value), a.degree, a.size + 1, None if a.const is None else -a.const)

    def matmul(self, a: Bound, b: Bound) -> Bound:
        sa, sb = self.shape(a), self.shape(b)
        shape = sa[:-1] + sb[1:]
        k = sa[-1] if sa else 1
        if math.prod(shape) > MAX_ELEMENTS:
            return self._too_large(shape, a.degree + b.degree, (a.size + b.size + 1) * k)
        return Bound(self.torch.matmul(a.value, b.value), a.degree + b.degree, (a.size + b.size + 1) * k)

    def index(self, a: Bound, key: tuple[Any, ...]) -> Bound:
        return Bound(self.torch.index(a.value, key), a.degree, a.size, a.const)

    def transpose(self, a: Bound) -> Bound:
        return Bound(self.torch.transpose(a.value), a.degree, a.size, a.const)

    def stack(self, items: list[Bound], shape: tuple[int, ...]) -> Bound:
        full = (len(items),) + tuple(shape)
        degree = max(i.degree for i in items)
        size = max(i.size for i in items)
        if len(full) > MAX_NDIM:
            self.pending = self.pending or f"lists nested {len(full)} deep (limit {MAX_NDIM} dimensions)"
            return Bound(torch.zeros(()), degree, size)
        if math.prod(full) > MAX_ELEMENTS:
            return self._too_large(full, degree, size)
        return Bound(self.torch.stack([i.value for i in items], shape), degree, size)

    def call(self, name: str, args: list[Any], axis: int | None, opts: dict[str, Any] | None = None) -> Bound:
        # args: a Bound, a list of Bounds (a sequence parameter), or None (an omitted one)
        flat = [b for a in args if a is not None for b in (a if isinstance(a, list) else [a])]
        values = [None if a is None else [b.value for b in a] if isinstance(a, list) else a.value
                  for a in args]
        out = self.torch.call(name, values, axis, opts or {})
        degree = max((b.degree for b in flat), default=1.0)
        size = sum(b.size for b in flat) + 1
        first = args[0] if args and isinstance(args[0], Bound) else None
        if first is None or len(flat) != 1:
            if name == "dot" and len(flat) == 2:
                n = int(torch.as_tensor(flat[0].value).numel())
                degree, size = flat[0].degree + flat[1].degree, size * n
            return Bound(out, degree, size)
        shape = self.shape(first)
        n = (math.prod(shape) if axis is None else shape[axis]) if shape else 1
        if name in ("max", "min") and n > MAX_EXTREMUM_TERMS:
            self.pending = self.pending or (
                f"{name}() over {n} elements (limit {MAX_EXTREMUM_TERMS}): the exact subgradient "
                "of a max over many terms is too costly; split it, or check fewer elements")
        if name in ("sum", "mean", "logsumexp", "softmax", "max", "min", "norm"):
            size = first.size * n + 1
        if name == "norm":
            degree = 2 * first.degree
        elif name == "prod":
            degree, size = first.degree * n, first.size * n + 1
        return Bound(out, degree, size)

    def compare(self, op: str, a: Bound, b: Bound) -> Bound:
        return Bound(self.torch.compare(op, a.value, b.value), max(a.degree, b.degree), a.size + b.size + 1)

    def logic(self, op: str, a: Bound, b: Bound | None) -> Bound:
        if b is None:
            return Bound(self.torch.logic(op, a.value, None), a.degree, a.size + 1)
        return Bound(self.torch.logic(op, a.value, b.value), max(a.degree, b.degree), a.size + b.size + 1)

    def check(self, v: Bound, what: str, node: Any) -> None:
        if self.pending:
            message, self.pending = self.pending, None
            raise ExprError(message, node)
        self.torch.check(v.value, what, node)

    def _too_large(self, shape: tuple[int, ...], degree: float, size: float) -> Bound:
        self.pending = self.pending or (f"an array of shape {tuple(shape)} has {big(math.prod(shape))} "
                                        f"elements (limit {big(MAX_ELEMENTS)})")
        return Bound(torch.zeros(()).expand(shape), degree, size)


def _arith(op: str, a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    try:
        r = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
             "/": lambda: a / b if b else math.nan, "**": lambda: a**b if abs(b) <= 1e6 else math.nan}[op]()
    except (OverflowError, ZeroDivisionError, ValueError):
        return None
    r = r.real if isinstance(r, complex) else float(r)
    return r if math.isfinite(r) else None


def big(x: float) -> str:
    return f"{x:,.0f}" if x < 1e15 else f"{x:.3g}"


def bounded_eval(tree: ast.expr, env: dict[str, Bound], ops: Bounded) -> Bound:
    ops.pending = None
    out = evaluate(tree, env, ops)
    if ops.pending:
        raise ExprError(ops.pending, tree)
    if not isinstance(out.value, torch.Tensor):
        out = Bound(torch.as_tensor(out.value, dtype=torch.float64), out.degree, out.size, out.const)
    return out

"""The autodiff side: the torch interpreter and every torch AD path.

All paths differentiate one function of one flat vector ``z`` (the ``wrt`` inputs
concatenated), so a gradient is ``(N,)``, a Jacobian ``(m, N)`` and a Hessian ``(N, N)``
whichever path computed them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
import torch

from . import _torchfunctions
from ._expr import ExprError
from ._interpret import evaluate
from ._quiet import hide_torch_noise
from ._spec import InputSpec
from ._symbolic import SymOps

hide_torch_noise()  # torch.func warns about its own torch.jit use: not the user's business

DTYPES = {"float64": torch.float64, "float32": torch.float32}
Tensor = torch.Tensor


def _t(x: Any, dtype: torch.dtype) -> Tensor:
    return x if isinstance(x, Tensor) else torch.tensor(x, dtype=dtype)


MAX_GAMMA_INTEGER = 2 * 10**4  # SymPy writes lgamma(n) as log((n - 1)!) and digamma(n) with H(n - 1): exactly


def _gamma_integers(name: str, x: Tensor) -> None:
    """Refuse ``lgamma``/``digamma`` beyond ``MAX_GAMMA_INTEGER`` at a rational with a small
    denominator (an integer, n + 1/2, n + 1/4, ...: every float there is one): SymPy evaluates
    them through exact factorials and harmonic numbers (Gauss's digamma theorem), which takes
    5 s at 1e4, 18 s at 2e4, over 30 s at 3e4 and never ends at 1e10 (``lgamma(1e10)`` ran for 12 minutes).
    Raises ExprError (positioned by the caller)."""
    big = (256 * x == torch.round(256 * x)) & (x.abs() > MAX_GAMMA_INTEGER)  # p/q, q <= 256: closed forms
    if bool(big.any()):
        v = float(x[big].reshape(-1)[0])
        raise ExprError(f"{name}() at {v:.12g}: its exact value there needs a factorial or harmonic number "
                        f"of about {v:.6g} terms, too large to compute; use a point below "
                        f"{MAX_GAMMA_INTEGER:g} (or one that is not a simple fraction)")


def _reduce_all(fn: Callable[..., Tensor], x: Tensor, axis: int | None) -> Tensor:
    return fn(x.reshape(-1), 0) if axis is None else fn(x, axis)


_UNARY: dict[str, Callable[[Tensor], Tensor]] = {
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "asin": torch.asin, "acos": torch.acos,
    "atan": torch.atan, "sinh": torch.sinh, "cosh": torch.cosh, "tanh": torch.tanh, "exp": torch.exp,
    "log": torch.log, "log1p": torch.log1p, "expm1": torch.expm1, "sqrt": torch.sqrt, "abs": torch.abs,
    "sign": torch.sign, "sigmoid": torch.sigmoid, "relu": torch.relu,
    "softplus": torch.nn.functional.softplus, "erf": torch.special.erf,
    "norm": lambda x: torch.linalg.vector_norm(x.reshape(-1)),
}


_CORE = frozenset(_UNARY) | {"atan2", "max", "min", "sum", "mean", "prod", "logsumexp", "softmax", "dot"}


@dataclass
class TorchOps:
    """The torch backend of the interpreter. With ``check`` it reports nan/inf as domain errors."""

    dtype: torch.dtype
    check_domain: bool = False

    def number(self, value: int | float) -> Any:
        return value

    def constant(self, name: str) -> Any:
        return {"pi": math.pi, "e": math.e}[name]

    def shape(self, value: Any) -> tuple[int, ...]:
        return tuple(value.shape) if isinstance(value, Tensor) else ()

    def binary(self, op: str, a: Any, b: Any) -> Any:
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            a = _t(a, self.dtype)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        return a**b

    def neg(self, a: Any) -> Any:
        return -a

    def matmul(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.matmul(a, b)

    def index(self, a: Tensor, key: tuple[Any, ...]) -> Tensor:
        return a[key]

    def transpose(self, a: Any) -> Any:
        return a.permute(*reversed(range(a.dim()))) if isinstance(a, Tensor) else a

    def stack(self, items: list[Any], shape: tuple[int, ...]) -> Tensor:
        return torch.stack([_t(i, self.dtype).expand(shape) for i in items])

    def check(self, value: Any, what: str, node: Any) -> None:
        if self.check_domain and isinstance(value, Tensor) and not bool(torch.isfinite(value).all()):
            bad = "nan" if bool(torch.isnan(value).any()) else "inf"
            if what == "division by zero":
                raise ExprError(f"division by zero at this point (gives {bad})", node)
            raise ExprError(f"{what} is outside its domain at this point (gives {bad})", node)

    def compare(self, op: str, a: Any, b: Any) -> Any:
        a, b = _t(a, self.dtype), _t(b, self.dtype)
        return {"<": torch.lt, "<=": torch.le, ">": torch.gt, ">=": torch.ge, "==": torch.eq,
                "!=": torch.ne}[op](a, b)

    def logic(self, op: str, a: Any, b: Any) -> Any:
        if op == "~":
            return torch.logical_not(a)
        return (torch.logical_and if op == "&" else torch.logical_or)(a, b)

    def call(self, name: str, args: list[Any], axis: int | None, opts: dict[str, Any] | None = None) -> Any:
        xs: list[Any] = [None if a is None else [_t(i, self.dtype) for i in a] if isinstance(a, list)
                         else _t(a, self.dtype)
              for a in args]
        if name in ("lgamma", "digamma") and self.check_domain:
            _gamma_integers(name, xs[0])
        if name not in _CORE:
            return _torchfunctions.call(name, xs, axis, opts or {}, self.dtype)
        x = xs[0]
        if name in _UNARY:
            return _UNARY[name](x)
        if name == "atan2":
            return torch.atan2(*torch.broadcast_tensors(xs[0], xs[1]))
        if name in ("max", "min") and len(xs) == 2:
            return (torch.maximum if name == "max" else torch.minimum)(xs[0], xs[1])
        if name in ("max", "min"):
            return _reduce_all(torch.amax if name == "max" else torch.amin, x, axis)
        if name == "sum":
            return x.sum() if axis is None else x.sum(axis)
        if name == "mean":
            return x.mean() if axis is None else x.mean(axis)
        if name == "prod":
            return _reduce_all(torch.prod, x, axis)
        if name == "logsumexp":
            return _reduce_all(torch.logsumexp, x, axis)
        if name == "softmax":
            return torch.softmax(x.reshape(-1), 0).reshape(x.shape) if axis is None else torch.softmax(x, axis)
        if name == "dot":
            return torch.dot(xs[0], xs[1])
        raise AssertionError(f"unhandled function {name}")


def materialize(specs: dict[str, InputSpec], dtype: torch.dtype) -> dict[str, Tensor]:
    """The actual input values, exactly as the contract defines them (generators included)."""
    out: dict[str, Tensor] = {}
    for name, spec in specs.items():
        gen = spec.generator
        if gen is None:
            assert spec.expr is not None
            value = evaluate(spec.expr.tree, {}, SymOps())
            flat = [float(sp.N(v, 30)) for v in np.asarray(value, dtype=object).flat]
            out[name] = torch.tensor(flat, dtype=torch.float64).reshape(spec.shape).to(dtype)
        elif gen["kind"] == "fill":
            out[name] = torch.full(spec.shape, gen["fill"], dtype=dtype)
        else:
            g = torch.Generator().manual_seed(gen["seed"])
            if gen["dist"] == "uniform":
                t = torch.rand(spec.shape, generator=g, dtype=torch.float32)
                t = gen["low"] + (gen["high"] - gen["low"]) * t
            else:
                t = torch.randn(spec.shape, generator=g, dtype=torch.float32)
                t = gen["mean"] + gen["std"] * t
            out[name] = t.to(dtype)
    return out


def forward(defines: dict[str, Any], values: dict[str, Tensor], dtype: torch.dtype, *,
            overrides: dict[str, Tensor] | None = None, check_domain: bool = False,
            until: str | None = None) -> dict[str, Tensor]:
    """Evaluate the defines in order. ``overrides`` replaces defines (a cut intermediate)."""
    ops = TorchOps(dtype, check_domain)
    env: dict[str, Any] = dict(values)
    for name, expr in defines.items():
        if overrides and name in overrides:
            env[name] = overrides[name]
        else:
            env[name] = _t(evaluate(expr.tree, env, ops), dtype)
        if name == until:
            break
    return env


@dataclass
class FlatProblem:
    """f(z) for the flat vector z of the wrt values, and the point z0."""

    fn: Callable[[Tensor], Tensor]
    z0: Tensor
    scalar: bool
    raw: Callable[[Tensor], Tensor] | None = None   # f(z) before the reshape to a scalar


def flatten(fn: Callable[[dict[str, Tensor]], Tensor], point: dict[str, Tensor], wrt: Sequence[str],
            scalar: bool) -> FlatProblem:
    """Wrap ``fn(values by name)`` as f(z); z is the concatenation of the ``wrt`` values."""
    shapes = [tuple(point[w].shape) for w in wrt]
    sizes = [math.prod(s) for s in shapes]
    z0 = torch.cat([point[w].detach().reshape(-1) for w in wrt]) if wrt else torch.zeros(0)

    def raw(z: Tensor) -> Tensor:
        values = dict(point)
        for w, piece, shape in zip(wrt, torch.split(z, sizes), shapes):
            values[w] = piece.reshape(shape)
        return fn(values)

    def f(z: Tensor) -> Tensor:
        out = raw(z)
        return out.reshape(()) if scalar else out

    return FlatProblem(f, z0, scalar, raw)


# ---- the AD paths ---------------------------------------------------------------------------

def _leaf(z0: Tensor) -> Tensor:
    return z0.detach().clone().requires_grad_(True)


def _grad(out: Tensor, z: Tensor, **kw: Any) -> Tensor:
    if not out.requires_grad:
        return torch.zeros_like(z)
    (g,) = torch.autograd.grad(out, z, allow_unused=True, **kw)
    return torch.zeros_like(z) if g is None else g


def _negated_grad(out: Tensor, z: Tensor, **kw: Any) -> Tensor:
    """The gradient of a scalar ``out`` taken with the cotangent -1, negated back (exact in IEEE
    arithmetic). A backward that ignores its incoming gradient (``return 3 * x**2`` without
    ``g *``) is right whenever that gradient is 1, as it is after ``.sum()``; with -1 it is not.
    The "functional" path keeps the cotangent 1, so both are taken."""
    if not out.requires_grad:
        return torch.zeros_like(z)
    (g,) = torch.autograd.grad(out, z, grad_outputs=torch.full_like(out, -1.0), allow_unused=True, **kw)
    return torch.zeros_like(z) if g is None else 0.0 - g


def gradient(p: FlatProblem, mode: str) -> Tensor:
    if mode == "backward":  # .backward() with the cotangent -1 (see _negated_grad)
        z = _leaf(p.z0)
        out = p.fn(z)
        if out.requires_grad:
            out.backward(torch.full_like(out, -1.0))
        return 0.0 - z.grad if z.grad is not None else torch.zeros_like(z)  # 0.0 - g: no -0.0
    if mode == "functional":
        return torch.autograd.functional.jacobian(p.fn, p.z0)
    if mode == "jacrev":
        return torch.func.jacrev(p.fn)(p.z0)
    if mode == "jacfwd":
        return _jacfwd(p.fn, p.z0)
    raise ValueError(mode)


def _jacfwd(fn: Callable[[Tensor], Tensor], z0: Tensor) -> Tensor:
    """``torch.func.jacfwd(fn)(z0)``; through a custom Function with a ``jvp`` but no vmap rule
    (torch refuses to vmap it), one ``torch.func.jvp`` per unit vector instead, stacked as the
    columns: the same forward-mode derivatives, so a wrong ``jvp`` is still caught."""
    try:
        return torch.func.jacfwd(fn)(z0)
    except RuntimeError as exc:
        if "does not have vmap support" not in str(exc) or z0.numel() == 0:
            raise
    eye = torch.eye(z0.numel(), dtype=z0.dtype).reshape(-1, *z0.shape)
    cols = [torch.func.jvp(fn, (z0,), (e,))[1] for e in eye]
    return torch.stack(cols, dim=-1).reshape(*cols[0].shape, *z0.shape)


def jacobian(p: FlatProblem, mode: str) -> Tensor:
    n = p.z0.numel()
    if mode == "backward":
        z = _leaf(p.z0)
        out = p.fn(z).reshape(-1)
        rows = [_grad(out[i], z, retain_graph=True) for i in range(out.numel())]
        return torch.stack(rows) if rows else torch.zeros(0, n, dtype=p.z0.dtype)
    if mode == "functional":
        j = torch.autograd.functional.jacobian(p.fn, p.z0)
    elif mode == "jacrev":
        j = torch.func.jacrev(p.fn)(p.z0)
    elif mode == "jacfwd":
        j = _jacfwd(p.fn, p.z0)
    else:
        raise ValueError(mode)
    return j.reshape(-1, n)


def hessian(p: FlatProblem, mode: str) -> Tensor:
    n = p.z0.numel()
    if mode == "backward":
        z = _leaf(p.z0)
        g = _negated_grad(p.fn(z), z, create_graph=True)
        rows = [_grad(g[i], z, retain_graph=True) for i in range(n)]
        return torch.stack(rows) if rows else torch.zeros(0, 0, dtype=p.z0.dtype)
    if mode == "functional":
        return torch.autograd.functional.hessian(p.fn, p.z0).reshape(n, n)
    chunk = nested_chunk(n)
    if mode == "jacrev":
        return torch.func.jacrev(torch.func.jacrev(p.fn), chunk_size=chunk)(p.z0).reshape(n, n)
    if mode == "jacfwd":
        if chunk is None:
            return torch.func.jacfwd(torch.func.jacfwd(p.fn))(p.z0).reshape(n, n)
        return _forward_columns(torch.func.jacfwd(p.fn), p.z0, chunk)
    if mode == "hessian_fwdrev":
        if chunk is None:
            return torch.func.hessian(p.fn)(p.z0).reshape(n, n)
        return _forward_columns(torch.func.jacrev(p.fn), p.z0, chunk)  # torch.func.hessian = jacfwd(jacrev)
    raise ValueError(mode)


NESTED_ELEMENTS = 2**22  # elements (n x n x batch) a nested vmap may hold at once: 32 MiB in float64


def nested_chunk(n: int) -> int | None:
    """How many Hessian columns a nested torch.func path computes at once: None (all n, torch's own
    call) while n**3 <= ``NESTED_ELEMENTS``, else the largest batch keeping n*n*batch under it.

    Nested ``jacfwd``/``jacrev`` vmap all n tangents of the outer transform over the inner one's n
    rows, so their intermediates have n x n x (size of each intermediate) elements: n**3 for a
    Rosenbrock, 821 MiB extra at n=300 (issue 11). Batching the outer transform bounds that.
    """
    return None if n**3 <= NESTED_ELEMENTS else max(1, NESTED_ELEMENTS // (n * n))


def _forward_columns(inner: Callable[[Tensor], Tensor], z0: Tensor, chunk: int) -> Tensor:
    """``jacfwd(inner)(z0)`` for the gradient map ``inner``, ``chunk`` columns at a time: column k is the
    forward-mode JVP of ``inner`` along the k-th unit vector (what jacfwd vmaps over all n at once)."""
    n = z0.numel()
    eye = torch.eye(n, dtype=z0.dtype)
    column = torch.func.vmap(lambda v: torch.func.jvp(inner, (z0,), (v,))[1])
    cols = [column(eye[k:k + chunk]) for k in range(0, n, chunk)]
    return torch.cat(cols).reshape(n, n).T  # row k of cat = d inner / d z_k = column k


def hvp(p: FlatProblem, mode: str, v: Tensor) -> Tensor:
    if mode == "backward":
        z = _leaf(p.z0)
        g = _negated_grad(p.fn(z), z, create_graph=True)
        return _grad((g * v).sum(), z)
    if mode == "functional":
        return torch.autograd.functional.hvp(p.fn, p.z0, v)[1]
    if mode == "jacrev":  # reverse-over-reverse: a vjp of the gradient (H is symmetric)
        return torch.func.vjp(torch.func.grad(p.fn), p.z0)[1](v)[0]
    if mode == "jacfwd":  # forward-over-reverse
        return torch.func.jvp(torch.func.grad(p.fn), (p.z0,), (v,))[1]
    raise ValueError(mode)


MODES_FOR = {
    "value": ("value",),
    "gradient": ("backward", "functional", "jacrev", "jacfwd"),
    "jacobian": ("backward", "functional", "jacrev", "jacfwd"),
    "hessian": ("backward", "functional", "jacrev", "jacfwd", "hessian_fwdrev"),
    "hvp": ("backward", "functional", "jacrev", "jacfwd"),
}


def eigenvalues(matrix: Tensor, symmetric: bool) -> Tensor:
    if symmetric:
        return torch.linalg.eigvalsh(matrix).to(torch.complex128)
    return torch.linalg.eigvals(matrix).to(torch.complex128)

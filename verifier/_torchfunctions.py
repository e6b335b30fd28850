"""The torch side of the language's functions added with issue 10: each one is the torch function
named in ``_functions.FUNCTIONS``, called as a user would call it (shapes already checked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ._expr import ExprError

_ELEMENTWISE = {
    "sinc": torch.sinc, "logit": torch.logit, "gelu": lambda x: F.gelu(x, approximate="none"), "silu": F.silu,
    "mish": F.mish, "selu": F.selu, "softsign": F.softsign, "lgamma": torch.lgamma, "digamma": torch.digamma,
    "erfc": torch.special.erfc,
}
_LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "mse": F.mse_loss, "binary_cross_entropy": F.binary_cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits}


def _number(a: Any, default: float) -> float:
    return default if a is None else float(a)


def _indices(target: Any, classes: int, name: str) -> Any:
    """Class indices given as numbers: exact integers in [0, classes)."""
    t = target.detach()
    if not bool((t == t.round()).all()) or bool(((t < 0) | (t >= classes)).any()):
        raise ExprError(f"{name}()'s target must hold class indices in 0..{classes - 1}")
    return t.to(torch.int64)


def call(name: str, xs: list[Any], axis: int | None, opts: dict[str, Any], dtype: torch.dtype) -> Any:
    """``name(*xs)`` in torch; ``xs`` are tensors (None for an optional argument left out)."""
    x: Any = xs[0] if xs else None
    if name in _ELEMENTWISE:
        return _ELEMENTWISE[name](x)
    if name == "where":
        cond, a, b = torch.broadcast_tensors(*xs)
        return torch.where(cond, a, b)
    if name in ("maximum", "minimum"):
        return (torch.maximum if name == "maximum" else torch.minimum)(*torch.broadcast_tensors(*xs))
    if name == "clamp":
        return torch.clamp(x, min=xs[1], max=xs[2])
    if name == "hardtanh":
        return F.hardtanh(x, _number(xs[1], -1.0), _number(xs[2], 1.0))
    if name == "leaky_relu":
        return F.leaky_relu(x, _number(xs[1], 0.01))
    if name == "elu":
        return F.elu(x, _number(xs[1], 1.0))
    if name == "huber":
        return F.huber_loss(x, xs[1], delta=_number(xs[2], 1.0))
    if name in _LOSSES:
        return _LOSSES[name](x, xs[1])
    if name in ("cross_entropy", "nll"):
        target = xs[1]
        if target.shape != x.shape:
            target = _indices(target, x.shape[-1], name)
        return (F.cross_entropy if name == "cross_entropy" else F.nll_loss)(x, target)
    if name == "log_softmax":
        return torch.log_softmax(x.reshape(-1), 0).reshape(x.shape) if axis is None else torch.log_softmax(x, axis)
    if name == "cumsum":
        return torch.cumsum(x.reshape(-1), 0) if axis is None else torch.cumsum(x, axis)
    if name == "trace":
        return torch.trace(x)
    if name == "det":
        return torch.linalg.det(x)
    if name == "inv":
        try:
            return torch.linalg.inv(x)
        except RuntimeError as exc:  # torch.linalg.LinAlgError: singular
            raise ExprError(f"inv() of a singular matrix at this point ({str(exc).splitlines()[0]})") from None
    if name == "outer":
        return torch.outer(x, xs[1])
    if name == "diag":
        return torch.diag(x)
    if name == "reshape":
        return torch.reshape(x, opts["shape"])
    if name == "concatenate":
        return torch.cat(list(x), dim=axis or 0)
    if name == "stack":
        return torch.stack(list(x), dim=axis or 0)
    if name == "eye":
        return torch.eye(opts["n"], dtype=dtype)
    raise AssertionError(f"unhandled function {name}")

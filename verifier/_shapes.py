"""Shape rules of the language's functions, checked once by the walker for both interpreters.

Each rule raises ``ExprError`` at the call, naming the shapes, before either backend runs; the
rules follow torch (and numpy, whose shapes torch's functions share here).
"""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np

from ._expr import ExprError
from ._whitelist import MAX_NDIM

Shape = tuple[int, ...]

_ELEMENTWISE_N = {"atan2", "min", "max", "maximum", "minimum", "clamp", "where"}
_SAME_SHAPE_LOSSES = {"mse", "huber", "binary_cross_entropy", "binary_cross_entropy_with_logits"}


def shape_str(shape: Shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _axis(axis: int | None, ndim: int, node: ast.AST) -> int | None:
    if axis is None:
        return None
    if not -ndim <= axis < max(ndim, 1) or ndim == 0:
        raise ExprError(f"axis {axis} is out of range for an array with {ndim} dimensions", node)
    return axis % ndim


def check_call(name: str, shapes: list[Any], axis: int | None, opts: dict[str, Any], node: ast.AST) -> int | None:
    """Check the argument shapes of ``name``; return ``axis`` made non-negative.

    ``shapes`` has one entry per argument: a shape, a list of shapes (a list argument), or None
    (an optional argument left out).
    """
    given: list[Any] = [s for s in shapes if s is not None]
    if name in ("concatenate", "stack"):
        return _sequence(name, shapes[0], axis, node)
    first: Any = given[0] if given else ()
    if axis is not None:
        if name in _ELEMENTWISE_N and len(given) > 1:
            raise ExprError(f"{name}(a, b) is elementwise and takes no axis", node)
        axis = _axis(axis, len(first), node)
    if name in _ELEMENTWISE_N:
        try:
            np.broadcast_shapes(*given)
        except ValueError:
            raise ExprError(f"shapes {' and '.join(map(shape_str, given))} cannot be broadcast together "
                            f"for {name}()", node) from None
        if name == "clamp" and len(given) == 1:
            raise ExprError("clamp() needs at least one bound: clamp(x, lo, hi), clamp(x, min=lo) or "
                            "clamp(x, max=hi)", node)
    elif name == "dot" and (len(first) != 1 or first != given[1]):
        raise ExprError(f"dot() takes two 1-D arrays of the same length, got "
                        f"{shape_str(first)} and {shape_str(given[1])}", node)
    elif name in _SAME_SHAPE_LOSSES and given[0] != given[1]:
        raise ExprError(f"{name}() takes input and target of the same shape, got {shape_str(given[0])} and "
                        f"{shape_str(given[1])}", node)
    elif name in ("cross_entropy", "nll"):
        _classes(name, given[0], given[1], node)
    elif name in ("trace", "det", "inv") and (len(first) != 2 or (name != "trace" and first[0] != first[1])):
        what = "a 2-D array" if name == "trace" else "a square matrix"
        raise ExprError(f"{name}() takes {what}, got shape {shape_str(first)}", node)
    elif name == "outer" and (len(given[0]) != 1 or len(given[1]) != 1):
        raise ExprError(f"outer() takes two 1-D arrays, got {shape_str(given[0])} and {shape_str(given[1])}", node)
    elif name == "diag" and len(first) not in (1, 2):
        raise ExprError(f"diag() takes a 1-D array (to build a matrix) or a 2-D one (to read its diagonal), "
                        f"got shape {shape_str(first)}", node)
    elif name == "reshape":
        opts["shape"] = _reshaped(first, opts["shape"], node)
    if name in ("min", "max") and len(given) == 1 and 0 in first:
        raise ExprError(f"{name}() of an empty array", node)
    return axis


def _classes(name: str, inp: Shape, target: Shape, node: ast.AST) -> None:
    if len(inp) not in (1, 2):
        raise ExprError(f"{name}() takes input of shape (C,) or (N, C), got {shape_str(inp)}", node)
    if target == inp[:-1] or (name == "cross_entropy" and target == inp):
        return
    probs = f" or class probabilities of shape {shape_str(inp)}" if name == "cross_entropy" else ""
    raise ExprError(f"{name}() with input of shape {shape_str(inp)} takes class indices of shape "
                    f"{shape_str(inp[:-1])}{probs}, got {shape_str(target)}", node)


def _reshaped(shape: Shape, new: tuple[int, ...], node: ast.AST) -> Shape:
    size = math.prod(shape)
    if len(new) > MAX_NDIM:
        raise ExprError(f"reshape() into {len(new)} dimensions (limit {MAX_NDIM})", node)
    if sum(1 for n in new if n == -1) > 1:
        raise ExprError("reshape() allows at most one -1", node)
    known = math.prod(n for n in new if n != -1)
    if -1 in new:
        if known == 0 or size % known:
            raise ExprError(f"cannot reshape an array of shape {shape_str(shape)} into {shape_str(new)}", node)
        new = tuple(size // known if n == -1 else n for n in new)
    if math.prod(new) != size:
        raise ExprError(f"cannot reshape an array of shape {shape_str(shape)} ({size} elements) into "
                        f"{shape_str(new)}", node)
    return new


def _sequence(name: str, shapes: list[Shape], axis: int | None, node: ast.AST) -> int:
    first = shapes[0]
    ndim = len(first) + (1 if name == "stack" else 0)
    if ndim > MAX_NDIM:
        raise ExprError(f"{name}() would make an array of {ndim} dimensions (limit {MAX_NDIM})", node)
    if name == "concatenate" and not first:
        raise ExprError("concatenate() cannot join 0-D arrays; use stack() or a list literal [a, b]", node)
    out = _axis(0 if axis is None else axis, ndim, node)
    assert out is not None
    for s in shapes[1:]:
        ok = s == first if name == "stack" else (
            len(s) == len(first) and all(a == b for i, (a, b) in enumerate(zip(s, first)) if i != out))
        if not ok:
            rule = "the same shape" if name == "stack" else f"the same shape except along axis {out}"
            raise ExprError(f"{name}() takes arrays of {rule}, got "
                            f"{', '.join(map(shape_str, shapes))}", node)
    return out

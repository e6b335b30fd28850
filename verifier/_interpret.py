"""One walker over the parsed expression tree, shared by both interpreters.

The walker owns the language's semantics (broadcasting, ``@``, indexing, list literals,
``axis``) and checks shapes, so SymPy and torch see the same errors with the same
positions. A backend (``ops``) only supplies the arithmetic: ``_symbolic.SymOps`` builds
exact expressions, ``_autodiff.TorchOps`` computes tensors.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from ._expr import ExprError, _int_const

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


class Ops(Protocol):
    def number(self, value: int | float) -> Any: ...
    def constant(self, name: str) -> Any: ...
    def shape(self, value: Any) -> tuple[int, ...]: ...
    def binary(self, op: str, a: Any, b: Any) -> Any: ...
    def neg(self, a: Any) -> Any: ...
    def matmul(self, a: Any, b: Any) -> Any: ...
    def index(self, a: Any, key: tuple[Any, ...]) -> Any: ...
    def transpose(self, a: Any) -> Any: ...
    def stack(self, items: list[Any], shape: tuple[int, ...]) -> Any: ...
    def call(self, name: str, args: list[Any], axis: int | None) -> Any: ...
    def check(self, value: Any, what: str, node: ast.AST) -> None: ...


def _shape_str(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _axis(axis: int | None, ndim: int, node: ast.AST) -> int | None:
    if axis is None:
        return None
    if not -ndim <= axis < max(ndim, 1) or ndim == 0:
        raise ExprError(f"axis {axis} is out of range for an array with {ndim} dimensions", node)
    return axis % ndim


def evaluate(tree: ast.expr, env: Mapping[str, Any], ops: Ops) -> Any:
    """Evaluate a checked tree. ``env`` maps input/constant/define names to backend values."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return ops.number(node.value)  # type: ignore[arg-type]  # the checker allows int/float only
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            return ops.constant(node.id)
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return ops.neg(v) if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            # A left spine (a + b + c + ...) is walked with a loop: its length is not recursion depth.
            spine = [node]
            while isinstance(spine[-1].left, ast.BinOp):
                spine.append(spine[-1].left)  # type: ignore[arg-type]
            acc = ev(spine[-1].left)
            for b in reversed(spine):
                acc = binop(b, acc, ev(b.right))
            return acc
        if isinstance(node, ast.Subscript):
            a = ev(node.value)
            key = _key(node.slice)
            try:
                np.empty(ops.shape(a), dtype=np.int8)[key]
            except IndexError as exc:
                raise ExprError(f"index {ast.unparse(node.slice)} is invalid for shape "
                                f"{_shape_str(ops.shape(a))}: {exc}", node) from None
            return ops.index(a, key)
        if isinstance(node, ast.Attribute):  # only .T passes the checker
            v = ev(node.value)
            if not 1 <= len(ops.shape(v)) <= 2:
                raise ExprError(f".T transposes a matrix (or leaves a vector as it is); this operand "
                                f"has shape {_shape_str(ops.shape(v))}", node)
            return ops.transpose(v)
        if isinstance(node, ast.List):
            items = [ev(e) for e in node.elts]
            try:
                shape = np.broadcast_shapes(*(ops.shape(i) for i in items))
            except ValueError:
                shapes = ", ".join(_shape_str(ops.shape(i)) for i in items)
                raise ExprError(f"list items have incompatible shapes {shapes}", node) from None
            return ops.stack(items, shape)
        if isinstance(node, ast.Call):
            return _call(node)
        raise ExprError(f"{type(node).__name__} is not allowed", node)  # unreachable after checking

    def binop(node: ast.BinOp, a: Any, b: Any) -> Any:
        sa, sb = ops.shape(a), ops.shape(b)
        if isinstance(node.op, ast.MatMult):
            _check_matmul(sa, sb, node)
            return ops.matmul(a, b)
        sym = _BINOPS[type(node.op)]
        try:
            np.broadcast_shapes(sa, sb)
        except ValueError:
            raise ExprError(f"shapes {_shape_str(sa)} and {_shape_str(sb)} cannot be broadcast "
                            f"together for '{sym}'", node) from None
        out = ops.binary(sym, a, b)
        ops.check(out, "division by zero" if sym == "/" else f"'{sym}'", node)
        return out

    def _call(node: ast.Call) -> Any:
        name = node.func.id  # type: ignore[attr-defined]
        args = [ev(a) for a in node.args]
        axis = _int_const(node.keywords[0].value) if node.keywords else None
        shapes = [ops.shape(a) for a in args]
        if axis is not None:
            axis = _axis(axis, len(shapes[0]), node)
        if len(args) == 2 and name in ("atan2", "min", "max"):
            if axis is not None:
                raise ExprError(f"{name}(a, b) is elementwise and takes no axis", node)
            try:
                np.broadcast_shapes(*shapes)
            except ValueError:
                raise ExprError(f"shapes {_shape_str(shapes[0])} and {_shape_str(shapes[1])} cannot "
                                f"be broadcast together for {name}()", node) from None
        if name == "dot" and (len(shapes[0]) != 1 or shapes[0] != shapes[1]):
            raise ExprError(f"dot() takes two 1-D arrays of the same length, got "
                            f"{_shape_str(shapes[0])} and {_shape_str(shapes[1])}", node)
        if name in ("min", "max") and len(args) == 1 and 0 in shapes[0]:
            raise ExprError(f"{name}() of an empty array", node)
        out = ops.call(name, args, axis)
        ops.check(out, f"{name}()", node)
        return out

    return ev(tree)


def _check_matmul(sa: tuple[int, ...], sb: tuple[int, ...], node: ast.AST) -> None:
    if not (1 <= len(sa) <= 2 and 1 <= len(sb) <= 2):
        raise ExprError(f"'@' takes 1-D or 2-D operands, got shapes {_shape_str(sa)} and "
                        f"{_shape_str(sb)}", node)
    if sa[-1] != sb[0]:
        raise ExprError(f"shapes {_shape_str(sa)} and {_shape_str(sb)} are not aligned for '@' "
                        f"({sa[-1]} != {sb[0]})", node)


def _key(node: ast.AST) -> tuple[Any, ...]:
    items = node.elts if isinstance(node, ast.Tuple) else [node]
    key: list[Any] = []
    for item in items:
        if isinstance(item, ast.Slice):
            key.append(slice(*(None if p is None else _int_const(p)
                               for p in (item.lower, item.upper, item.step))))
        else:
            key.append(_int_const(item))
    return tuple(key)

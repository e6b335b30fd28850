"""One walker over the parsed expression tree, shared by both interpreters.

The walker owns the language's semantics (broadcasting, ``@``, indexing, list literals (never ragged),
``axis``) and checks shapes, so SymPy and torch see the same errors with the same
positions. A backend (``ops``) only supplies the arithmetic: ``_symbolic.SymOps`` builds
exact expressions, ``_autodiff.TorchOps`` computes tensors.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from ._expr import ExprError
from ._shapes import check_call, shape_str
from ._whitelist import int_const

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
    def call(self, name: str, args: list[Any], axis: int | None, opts: dict[str, Any]) -> Any: ...
    def compare(self, op: str, a: Any, b: Any) -> Any: ...
    def logic(self, op: str, a: Any, b: Any) -> Any: ...
    def check(self, value: Any, what: str, node: ast.AST) -> None: ...


_shape_str = shape_str


def evaluate(tree: ast.expr, env: Mapping[str, Any], ops: Ops) -> Any:
    """Evaluate a checked tree. ``env`` maps input/constant/define names to backend values."""

    quiet = [0]  # > 0 inside where()'s branches: a nan there is torch's, unless where() selects it

    def check(value: Any, what: str, node: ast.AST) -> None:
        if not quiet[0]:
            ops.check(value, what, node)

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
            # An array literal, as torch.tensor and numpy read it: every item has the same shape
            # ([[1, 2], [3]] and [x, 1] with x a vector are ragged, not broadcast).
            items = [ev(e) for e in node.elts]
            shape = ops.shape(items[0])
            for k, (elt, item) in enumerate(zip(node.elts, items)):
                if ops.shape(item) != shape:
                    raise ExprError(f"list items must have the same shape (an array literal is not ragged): "
                                    f"item {k + 1} has shape {_shape_str(ops.shape(item))}, item 1 has "
                                    f"{_shape_str(shape)}", elt)
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
        check(out, "division by zero" if sym == "/" else f"'{sym}'", node)
        return out

    def _call(node: ast.Call) -> Any:
        from ._functions import FUNCTIONS

        name = node.func.id  # type: ignore[attr-defined]
        bound: dict[str, ast.AST] = node._bound  # type: ignore[attr-defined]  # set by the checker
        args: list[Any] = []
        opts: dict[str, Any] = {}
        for pname, kind, _ in FUNCTIONS[name].params:
            arg = bound.get(pname)
            if kind in ("int", "shape"):
                items = arg.elts if isinstance(arg, (ast.List, ast.Tuple)) else [arg]
                opts[pname] = int_const(arg) if kind == "int" else tuple(int_const(i) for i in items)  # type: ignore[arg-type]
            elif arg is None:
                args.append(None)
            elif kind == "seq":
                args.append([ev(e) for e in arg.elts])  # type: ignore[attr-defined]
            elif kind == "cond":
                args.append(cond(arg))
            else:
                quiet[0] += name == "where"
                try:
                    args.append(ev(arg))
                finally:
                    quiet[0] -= name == "where"
        if name in ("min", "max") and args[1] is None:
            args.pop()
        shapes = [[ops.shape(i) for i in a] if isinstance(a, list) else None if a is None else ops.shape(a)
                  for a in args]
        axis = check_call(name, shapes, node._axis, opts, node)  # type: ignore[attr-defined]
        try:
            out = ops.call(name, args, axis, opts)
        except ExprError as exc:  # a backend's message about values (a class index out of range)
            if exc.line:
                raise
            raise ExprError(exc.message, node) from None
        check(out, f"{name}()", node)
        return out

    def cond(node: ast.AST) -> Any:
        if isinstance(node, ast.Compare):
            a, b = ev(node.left), ev(node.comparators[0])
            op = {"Lt": "<", "LtE": "<=", "Gt": ">", "GtE": ">=", "Eq": "==", "NotEq": "!="}[
                type(node.ops[0]).__name__]
            _broadcast([ops.shape(a), ops.shape(b)], f"'{op}'", node)
            return ops.compare(op, a, b)
        if isinstance(node, ast.UnaryOp):  # ~ (the checker allows nothing else here)
            return ops.logic("~", cond(node.operand), None)
        assert isinstance(node, ast.BinOp)
        a, b = cond(node.left), cond(node.right)
        op = "&" if isinstance(node.op, ast.BitAnd) else "|"
        _broadcast([ops.shape(a), ops.shape(b)], f"'{op}'", node)
        return ops.logic(op, a, b)

    return ev(tree)


def _broadcast(shapes: list[tuple[int, ...]], what: str, node: ast.AST) -> None:
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ExprError(f"shapes {' and '.join(map(shape_str, shapes))} cannot be broadcast together "
                        f"for {what}", node) from None


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
            key.append(slice(*(None if p is None else int_const(p)
                               for p in (item.lower, item.upper, item.step))))
        else:
            key.append(int_const(item))
    return tuple(key)

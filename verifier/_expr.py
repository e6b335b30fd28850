"""The expression language: parsed once with ``ast`` against a whitelist.

Nothing here evaluates user text. ``parse`` returns a checked ``ast`` tree whose nodes
carry their absolute file position (``_line``, ``_col``), so that errors found later,
while interpreting (shape mismatch, log(-1)), still point at the right column.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from . import _parse
from ._errors import ExprError
from ._functions import FUNCTIONS, RESERVED_FUNCTIONS
from ._whitelist import (  # noqa: F401  (the limits are part of this module's surface)
    CONSTANTS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_EYE,
    MAX_INT,
    MAX_KEPT_TERMS,
    MAX_LENGTH,
    Checker,
)

__all__ = ["CONSTANTS", "FUNCTIONS", "RESERVED_FUNCTIONS", "Expr", "ExprError", "Origin", "list_of", "parse"]


@dataclass(frozen=True)
class Expr:
    """A parsed, whitelisted expression."""

    source: str
    tree: ast.expr
    names: frozenset[str]


@dataclass(frozen=True)
class Origin:
    """Where the expression text starts in its file (1-based), to position errors."""

    line: int = 1
    col: int = 1


def _locate(tree: ast.AST, origin: Origin, source: str) -> None:
    lines = source.split("\n")
    # ast column offsets count UTF-8 bytes; a table per non-ASCII line turns them into
    # characters (slicing the line for every node was quadratic in its length).
    chars: dict[int, list[int]] = {}
    for row, text in enumerate(lines):
        if not text.isascii():
            chars[row] = [i for i, ch in enumerate(text) for _ in ch.encode()] + [len(text)]
    for node in ast.walk(tree):
        if hasattr(node, "lineno"):
            row = node.lineno - 1
            offset = getattr(node, "col_offset", 0) or 0
            table = chars.get(row)
            col = offset if table is None else table[min(offset, len(table) - 1)]
            node._line = origin.line + row  # type: ignore[attr-defined]
            node._col = (origin.col if row == 0 else 1) + col  # type: ignore[attr-defined]


def _ast_parse(text: str) -> ast.Expression:
    """``ast.parse`` in eval mode, with room for a flat chain as long as ``MAX_LENGTH`` allows.

    A chain ``a + b + c + ...`` is a left spine of ``BinOp`` nodes, one deeper per operator, so
    a 5000-term sum needs more than the default depth (see ``_parse.parse``); at most one
    operator per two characters. Parsing evaluates nothing."""
    return _parse.parse(text, mode="eval", depth=len(text) // 2)


def _chain_ops(text: str) -> int:
    return sum(text.count(op) for op in "+-*/@")


def parse(source: str | int | float, names: Iterable[str], origin: Origin = Origin(),
          *, allow_imag: bool = False) -> Expr:
    """Parse ``source`` into a checked tree. ``names`` are the names it may refer to."""
    if isinstance(source, bool) or not isinstance(source, (str, int, float)):
        raise ExprError(f"expected an expression, got {type(source).__name__}",
                        line=origin.line, col=origin.col)
    text = str(source) if not isinstance(source, str) else source
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression is too long ({len(text)} characters, limit {MAX_LENGTH})",
                        line=origin.line, col=origin.col)
    if not text.strip():
        raise ExprError("empty expression", line=origin.line, col=origin.col)
    try:
        module = _ast_parse(text.strip("\n"))
    except SyntaxError as exc:
        row = (exc.lineno or 1) - 1
        col = (exc.offset or 1) - 1
        hint = "; use ** for powers" if "^" in text else ""
        raise ExprError(f"syntax error: {exc.msg}{hint}", line=origin.line + row,
                        col=(origin.col if row == 0 else 1) + col) from None
    except RecursionError:  # only where this Python's own parser refuses a chain the limit allows
        raise ExprError(f"expression has too many terms in one chain for this Python's parser "
                        f"({_chain_ops(text)} operators in a row); group them, e.g. sum([...]) or "
                        "parenthesized parts", line=origin.line, col=origin.col) from None
    except MemoryError:  # the parser's own stack: a right-nested chain (x**x**...) or deep unary signs
        raise ExprError(f"expression is nested too deeply (limit {MAX_DEPTH})",
                        line=origin.line, col=origin.col) from None
    except ValueError as exc:
        raise ExprError(f"expression cannot be parsed: {exc}", line=origin.line, col=origin.col) from None
    _locate(module, origin, text.strip("\n"))
    # A set is used as it is (no copy: a file with 10,000 defines would be quadratic).
    checker = Checker(names if isinstance(names, set) else set(names), allow_imag,
                       text.strip("\n").split("\n"))
    try:
        checker.visit(module.body)
    except RecursionError:
        raise ExprError(f"expression is nested too deeply (limit {MAX_DEPTH})",
                        line=origin.line, col=origin.col) from None
    return Expr(source=text, tree=module.body, names=frozenset(checker.used))


def written_cancellation(expr: Expr) -> bool:
    """Whether a sum written in ``expr`` has a term that cancels another (``(x + C) - C``,
    ``x - (x - y)``): torch rounds the intermediate sum, SymPy and SymEngine fold it away.

    The terms of each chain of ``+``/``-`` (through parentheses and unary minus) are compared as
    written (``ast.dump``); a term that occurs with both signs is a written cancellation. One pass:
    each chain is read once from its root (a 9000-term sum is not read 9000 times)."""
    stack: list[ast.AST] = [expr.tree]
    while stack:
        node = stack.pop()
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub))):
            stack.extend(ast.iter_child_nodes(node))
            continue
        found: list[tuple[int, ast.AST]] = []
        chain: list[tuple[ast.AST, int]] = [(node, 1)]
        while chain:
            n, sg = chain.pop()
            if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub)):
                chain.append((n.left, sg))
                chain.append((n.right, -sg if isinstance(n.op, ast.Sub) else sg))
            elif isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
                chain.append((n.operand, -sg if isinstance(n.op, ast.USub) else sg))
            else:
                found.append((sg, n))
        stack.extend(n for _, n in found)
        if len(found) > MAX_KEPT_TERMS:  # a long flat chain is summed as SymPy folds it (its depth)
            continue
        written = [(sg, ast.dump(n)) for sg, n in found]
        plus = {t for sg, t in written if sg > 0}
        if any(sg < 0 and t in plus for sg, t in written):
            return True
    return False


def list_of(exprs: list[Expr], origin: Origin) -> Expr:
    """A YAML list of expressions, as one array literal."""
    node = ast.List(elts=[e.tree for e in exprs], ctx=ast.Load())
    node._line, node._col = origin.line, origin.col  # type: ignore[attr-defined]
    return Expr(source="[" + ", ".join(e.source for e in exprs) + "]", tree=node,
                names=frozenset().union(*(e.names for e in exprs)))

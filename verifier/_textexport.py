"""Notebooks exported as text (``In [N]:`` markers): which lines are code, output, markdown.

A cell's code is the longest run of blank-line separated chunks after its marker that parses
as Python; after two blank lines, once the code may have printed (a ``print``/``display``-like
call, or a last expression Jupyter would show), what follows is its output and is never run.
Chunks that parse but look like printed reprs (``tensor([6.])``) are output too.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from . import _parse

_MARKER = re.compile(r"^In \[\s*(\d*)\s*\]:[ \t]?(.*)$")
_OUT = re.compile(r"^Out\s*\[\s*\d*\s*\]:")  # Jupyter's prompt before a shown value: never code
_MD_WORD_HEADING = re.compile(r"^#{1,6}\s+\w")
PARSE_BUDGET = 300_000  # lines ast.parse may see while splitting a text export (a few seconds)
# Names that appear in printed reprs (``tensor([6.])``, ``array([1.], dtype=float32)``).
_REPR_CALLS = {"tensor", "array", "Parameter", "matrix", "dtype", "device"}
# How a chunk of code after two blank lines can start (printed output rarely does).
_CODE_START = re.compile(r"^(def|class|import|from|for|while|if|with|try|async)\b|^[@#]")
_PRINTERS = {"print", "display", "pprint", "show", "plot", "imshow", "describe", "summary", "info"}


class NoMarkers(ValueError):
    """The text has no ``In [N]:`` markers."""


def _neutralize(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith(("%", "!")):
        return line[: len(line) - len(stripped)] + "pass"
    return line


def split_text_export(text: str) -> list[Any]:
    """Split a notebook exported as text into markdown, code and output blocks."""
    from ._notebook import Block

    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _MARKER.match(line)]
    if not starts:
        raise NoMarkers("no `In [N]:` cell markers: expected a .ipynb notebook, a .py script "
                        "or a notebook exported as text")
    blocks: list[Block] = []
    budget = [PARSE_BUDGET]
    head = "\n".join(lines[: starts[0]]).strip("\n")
    if head.strip():
        blocks.append(Block("markdown", head))
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        match = _MARKER.match(lines[start])
        assert match is not None
        segment = ([match.group(2)] if match.group(2).strip() else []) + lines[start + 1 : end]
        out = next((i for i, line in enumerate(segment) if _OUT.match(line)), len(segment))
        n = _trim_printed(segment, _code_extent(segment[:out], budget))
        blocks.append(Block("code", "\n".join(segment[:n]).strip("\n"), match.group(1)))
        rest = _split_on_double_blank(segment[n:])
        is_last = k + 1 == len(starts)
        under = n < len(segment) and segment[n].strip()  # text right under the code: its output
        for j, piece in enumerate(rest):
            kind = "markdown" if (j == len(rest) - 1 and not is_last and not (j == 0 and under)) else "output"
            blocks.append(Block(kind, piece))
    return blocks


def _is_blank(line: str) -> bool:
    return not line.strip()


def _split_on_double_blank(lines: list[str]) -> list[str]:
    """Pieces of ``lines`` separated by two or more blank lines (the exporter's separator), or by
    a blank line before a markdown heading (a copied page puts one blank line before it)."""
    pieces: list[str] = []
    current: list[str] = []
    blanks = 0
    for line in lines:
        if _is_blank(line):
            blanks += 1
            continue
        if (blanks >= 2 or blanks and _MD_WORD_HEADING.match(line)) and current:
            pieces.append("\n".join(current))
            current = []
        elif blanks and current:
            current.extend([""] * blanks)
        current.append(line)
        blanks = 0
    if current:
        pieces.append("\n".join(current))
    return pieces


def _code_extent(segment: list[str], budget: list[int], lookahead: int = 8) -> int:
    """How many lines of ``segment`` are the cell's code (see the module docstring).

    Linear in practice: a prefix that parses ends at a top-level statement, so a longer
    prefix parses exactly when the text from the start of its last top-level statement
    does; only that tail is parsed again. Gives up ``lookahead`` chunks after the last fit,
    or when ``budget`` (lines left to parse in the whole file) runs out.
    """
    starts, ends, i = [], [], 0
    while i < len(segment):
        while i < len(segment) and _is_blank(segment[i]):
            i += 1
        if i == len(segment):
            break
        starts.append(i)
        while i < len(segment) and not _is_blank(segment[i]):
            i += 1
        ends.append(i)
    code = [_neutralize(line) for line in segment]
    good: list[int] = []  # chunks after which the prefix parses
    tail = 0  # first line of the last top-level statement of the longest good prefix
    for k, end in enumerate(ends):
        if good and k - good[-1] > lookahead or not good and k >= lookahead or budget[0] <= 0:
            break
        if (good and good[-1] == k - 1 and starts[k] - ends[k - 1] >= 2
                and not _CODE_START.match(segment[starts[k]].lstrip())
                and _printed_here("\n".join(code[: ends[k - 1]]), code[starts[k] : end])):
            break  # after two blank lines: what the code printed
        budget[0] -= end - tail + 10  # lines, plus the cost of one more call
        tree = _parse_lines(code[tail:end]) or _parse_lines(segment[tail:end])
        if tree is not None:
            good.append(k)
            if tree.body:
                last = tree.body[-1]
                decorators = getattr(last, "decorator_list", [])
                tail += min([last.lineno] + [d.lineno for d in decorators]) - 1
    if not good:  # a syntax error, or output that is not Python right under the code
        return _printed_prefix(segment, _before_double_blank(segment))
    # Drop trailing chunks that look like printed reprs (``tensor([6.])``) rather than code.
    while (len(good) > 1 and good[-2] == good[-1] - 1
           and starts[good[-1]] - ends[good[-2]] >= 2
           and _looks_like_output("\n".join(code[starts[good[-1]] : ends[good[-1]]]))):
        good.pop()
    # A trailing heading after two blank lines (``## Ejercicio 2`` after the output) is markdown,
    # not a comment of the code (a closing ``# ----`` one blank line under the code stays code).
    while (len(good) > 1 and good[-2] == good[-1] - 1 and starts[good[-1]] - ends[good[-2]] >= 2
           and _MD_WORD_HEADING.match(segment[starts[good[-1]]])
           and all(segment[i].lstrip().startswith("#") for i in range(starts[good[-1]], ends[good[-1]]))):
        good.pop()
    return ends[good[-1]]


def _trim_printed(segment: list[str], n: int) -> int:
    """``n`` less the trailing lines that only show a value (``tensor(12.)``, ``[1, 2]``, ``3.5``)
    printed by the code above them with no blank line between (a copied notebook page).

    Only a statement that is nothing but such a repr, after code that prints (a print/display
    call) or shows its last expression, is taken off; running it would fail or do nothing.
    """
    tree = _parse_lines([_neutralize(line) for line in segment[:n]])
    if tree is None:
        return n
    body = list(tree.body)
    while len(body) > 1 and _is_repr(body[-1]) and (_prints(body[:-1]) or isinstance(body[-2], ast.Expr)):
        n = body.pop().lineno - 1
    return n


def _printed_prefix(segment: list[str], n: int) -> int:
    """``n``, or fewer lines when the first line that does not parse is output printed right
    under code that prints (``y`` then ``tensor(8., grad_fn=<PowBackward0>)``).

    Only when that line starts at column 0 and not like code (``def``, ``for``, ``#`` ...):
    a real syntax error in the code stays in the cell, where the student sees it.
    """
    code = [_neutralize(line) for line in segment[:n]]
    try:
        _parse.parse("\n".join(code))
        return n
    except SyntaxError as exc:
        bad = (exc.lineno or 1) - 1
    except (ValueError, RecursionError, MemoryError, OverflowError):
        return n
    if not 0 < bad < n or segment[bad][:1].isspace() or _CODE_START.match(segment[bad]):
        return n
    tree = _parse_lines(code[:bad])
    if tree is None or not tree.body or not (_prints(tree.body) or isinstance(tree.body[-1], ast.Expr)):
        return n
    return bad


def _is_repr(stmt: ast.stmt) -> bool:
    """``tensor(...)``/``array(...)`` of literals, a number or a list of numbers, or ``name: value``."""
    if isinstance(stmt, ast.AnnAssign) and stmt.value is None and isinstance(stmt.target, ast.Name):
        return True  # "loss: 3.5" printed as a label
    if not isinstance(stmt, ast.Expr):
        return False
    value = stmt.value
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in _REPR_CALLS:
        args = value.args + [k.value for k in value.keywords]
        return all(_is_literal(a) or isinstance(a, (ast.Attribute, ast.Name, ast.Constant)) for a in args)
    return _is_literal(value)


def _prints(body: list[ast.stmt]) -> bool:
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in _PRINTERS:
                return True
    return False


def _printed_here(source: str, chunk: list[str]) -> bool:
    """Whether ``chunk`` (after two blank lines) is what ``source`` printed.

    Yes when its first line starts with the literal text a print/display call of ``source``
    begins with (``print(f"loss = {loss}")`` prints ``loss = ...``), or when it only assigns
    literal numbers to names that ``source`` printed (``loss = 1.6667``).
    """
    try:
        tree = _parse.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    prefixes, names = [], set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if (f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "") not in _PRINTERS:
            continue
        for arg in node.args[:1]:
            parts = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
            head = parts[0] if parts else None
            if isinstance(head, ast.Constant) and isinstance(head.value, str):
                text = head.value.strip().split("\n")[0].strip()
                if len(text) >= 2:
                    prefixes.append(text)
        names |= {n.id for a in node.args for n in ast.walk(a) if isinstance(n, ast.Name)}
    first = chunk[0].strip() if chunk else ""
    if any(first.startswith(p) for p in prefixes):
        return True
    try:
        body = _parse.parse("\n".join(chunk)).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return bool(body) and all(
        isinstance(st, ast.Assign) and all(isinstance(t, ast.Name) and t.id in names for t in st.targets)
        and _is_literal(st.value) for st in body)


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(_is_literal(e) for e in node.elts)
    return isinstance(node, ast.Constant) and type(node.value) in (int, float, complex, bool)


def _parse_lines(lines: list[str]) -> ast.Module | None:
    try:
        return _parse.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None


def _before_double_blank(segment: list[str]) -> int:
    """Number of lines before the first run of two blank lines after some text."""
    last, blanks = -1, 0
    for i, line in enumerate(segment):
        if _is_blank(line):
            blanks += 1
            continue
        if blanks >= 2 and last >= 0:
            break
        blanks, last = 0, i
    return last + 1


def _looks_like_output(chunk: str) -> bool:
    """Whether a chunk that parses is more likely printed output than code.

    Printed text such as ``tensor([6.])``, ``loss:  tensor(16.6)`` or ``x =  tensor([1.])``
    happens to be valid Python (an expression, an annotation, an assignment) but would
    fail or clobber a variable if run.
    """
    try:
        tree = _parse.parse(chunk)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    evidence = False  # a repr call, a bare label or a name: something other than a constant
    for stmt in tree.body:
        if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
            evidence = True
            value: ast.expr = stmt.annotation
        elif isinstance(stmt, (ast.Assign, ast.Expr)):
            value = stmt.value
        else:
            return False
        calls = 0
        for node in ast.walk(value):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in _REPR_CALLS:
                    calls += 1
                elif isinstance(func, ast.Attribute) and ast.unparse(func) == "torch.Size":
                    calls += 1
                else:
                    return False
            elif isinstance(node, ast.Name) and isinstance(stmt, ast.Expr):
                evidence = True
        if isinstance(stmt, ast.Assign) and calls == 0:
            return False
        evidence = evidence or calls > 0
    return evidence

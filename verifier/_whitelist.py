"""The expression language's whitelist: what a formula may contain, checked on its ``ast``.

``Checker`` walks a parsed tree and raises ``ExprError`` at the first node outside the
language (an unknown name or function, a method call, a huge exponent or constant, a tree
nested too deeply). Nothing here evaluates user text; constants are folded by hand
(``_const``) only to bound them.
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Iterable

from ._errors import ExprError
from ._functions import ALIASES, COMPARISONS, FUNCTIONS, REQUIRED

MAX_LENGTH = 20_000
MAX_DEPTH = 100
MAX_EXPONENT = 1000
MAX_INT = 2**63 - 1  # torch holds integers as int64; larger ones are written as floats (1.0e19)
MAX_EYE = 1000  # eye(n): n x n symbolic entries
MAX_NDIM = 16  # dimensions of an array (numpy allows 32 or 64, torch 64; no problem needs them)
MAX_KEPT_TERMS = 100  # a written cancellation is kept unevaluated in sums of up to this many terms

CONSTANTS = {"pi", "e"}


def _suggest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(options), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def int_const(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = int_const(node.operand)
        return None if inner is None else -inner
    return None


def _caret(node: ast.BinOp, lines: list[str]) -> ast.AST:
    """A stand-in node positioned at the '^' itself, between the operands."""
    left, right = node.left, node.right
    spot = ast.Name(id="^")
    spot._line, spot._col = getattr(node, "_line", 0), getattr(node, "_col", 0)  # type: ignore[attr-defined]
    if left.end_lineno == right.lineno == left.lineno and left.lineno <= len(lines):
        raw = lines[left.lineno - 1].encode()
        between = raw[left.end_col_offset or 0: right.col_offset].decode(errors="ignore")
        if "^" in between:
            width = len(raw[left.col_offset: left.end_col_offset].decode(errors="ignore"))
            spot._col = getattr(left, "_col", 0) + width + between.index("^")  # type: ignore[attr-defined]
    return spot


class Checker:
    def __init__(self, names: set[str], allow_imag: bool, lines: list[str] | None = None):
        self.lines = lines or []
        self.names = names
        self.allow_imag = allow_imag
        self.used: set[str] = set()

    def fail(self, message: str, node: ast.AST) -> ExprError:
        return ExprError(message, node)

    def visit(self, node: ast.AST, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise self.fail(f"expression is nested too deeply (limit {MAX_DEPTH})", node)
        method = getattr(self, "v_" + type(node).__name__, None)
        if method is None:
            raise self.fail(self._describe(node), node)
        method(node, depth + 1)

    @staticmethod
    def _describe(node: ast.AST) -> str:
        kinds = {
            "Lambda": "lambda is not allowed", "ListComp": "comprehensions are not allowed",
            "GeneratorExp": "comprehensions are not allowed", "DictComp": "comprehensions are not allowed",
            "SetComp": "comprehensions are not allowed", "Dict": "dicts are not allowed",
            "Compare": "comparisons are only allowed in where()'s condition, e.g. where(x > 0, x, 0)",
            "BoolOp": "'and'/'or' are not allowed; combine conditions with & and | (and ~ for not): "
            "where((x > 0) & (x < 1), a, b)",
            "IfExp": "conditional expressions are not allowed", "Tuple": "tuples are only allowed "
            "inside [] indexing", "JoinedStr": "strings are not allowed", "NamedExpr":
            "':=' is not allowed", "Starred": "'*' unpacking is not allowed", "Await": "await is not allowed",
        }
        return kinds.get(type(node).__name__, f"{type(node).__name__} is not allowed in an expression")

    def v_Constant(self, node: ast.Constant, depth: int) -> None:
        v = node.value
        if type(v) is bool or not isinstance(v, (int, float)):
            what = "strings are" if isinstance(v, (str, bytes)) else f"{type(v).__name__} constants are"
            if isinstance(v, complex):
                what = "complex literals are (use I for the imaginary unit)"
            raise self.fail(f"{what} not allowed", node)
        if isinstance(v, float) and not math.isfinite(v):
            raise self.fail("number is too large (not finite in float64)", node)
        if isinstance(v, int) and abs(v) > MAX_INT:
            raise self.fail(f"integer {_short(v)} is too large (limit 2**63 - 1); write a float such "
                            "as 1.0e19 for a large number", node)

    def v_Name(self, node: ast.Name, depth: int) -> None:
        if node.id.startswith("__"):
            raise self.fail(f"name '{node.id}' is not allowed", node)
        if node.id in FUNCTIONS and node.id not in self.names:
            raise self.fail(f"function '{node.id}' must be called, e.g. {node.id}(x)", node)
        if node.id not in self.names and node.id not in CONSTANTS and not (self.allow_imag and node.id == "I"):
            known = set(self.names) | CONSTANTS | ({"I"} if self.allow_imag else set())
            raise self.fail(f"unknown name '{node.id}'{_suggest(node.id, known | set(FUNCTIONS))}", node)
        self.used.add(node.id)

    def v_UnaryOp(self, node: ast.UnaryOp, depth: int) -> None:
        if isinstance(node.op, ast.Not):
            raise self.fail("'not' is not allowed; negate a condition with ~: where(~(x > 0), a, b)", node)
        if isinstance(node.op, ast.Invert):
            raise self.fail("operator '~' only negates a condition inside where(): where(~(x > 0), a, b)", node)
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise self.fail(f"operator '{type(node.op).__name__}' is not allowed; use + - * / ** @", node)
        self.visit(node.operand, depth)

    def condition(self, node: ast.AST, depth: int) -> None:
        """A condition: comparisons ``< <= > >= == !=`` combined with ``&``, ``|`` and ``~``."""
        if depth > MAX_DEPTH:
            raise self.fail(f"expression is nested too deeply (limit {MAX_DEPTH})", node)
        if isinstance(node, ast.Compare):
            if len(node.ops) > 1:
                raise self.fail("chained comparisons are not allowed; write (a < x) & (x < b), with the "
                                "parentheses (& binds tighter than <)", node)
            if type(node.ops[0]).__name__ not in COMPARISONS:
                raise self.fail(f"'{type(node.ops[0]).__name__}' is not a comparison here; use < <= > >= == !=",
                                node)
            self.visit(node.left, depth + 1)
            self.visit(node.comparators[0], depth + 1)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            self.condition(node.left, depth + 1)
            self.condition(node.right, depth + 1)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            self.condition(node.operand, depth + 1)
        elif isinstance(node, (ast.BoolOp, ast.UnaryOp)) and isinstance(getattr(node, "op", None),
                                                                         (ast.And, ast.Or, ast.Not)):
            word = {ast.And: "and", ast.Or: "or", ast.Not: "not"}[type(node.op)]
            sym = {"and": "&", "or": "|", "not": "~"}[word]
            raise self.fail(f"'{word}' is not allowed in a condition; use {sym} (with parentheses around each "
                            "comparison): where((x > 0) & (x < 1), a, b)", node)
        else:
            self.visit(node, depth + 1)  # its own error first
            raise self.fail("a condition must be a comparison such as x > 0 (combine with & | ~)", node)

    def v_BinOp(self, node: ast.BinOp, depth: int) -> None:
        # A chain ``a + b + c + ...`` is a left spine of BinOps: one level, however long
        # (the interpreter walks it with a loop), so a flat 101-term sum is not "nested".
        spine = [node]
        while isinstance(spine[-1].left, ast.BinOp):
            spine.append(spine[-1].left)  # type: ignore[arg-type]
        for b in spine:
            if isinstance(b.op, ast.BitXor):
                raise self.fail("'^' is not a power here; use ** for powers (x**2)", _caret(b, self.lines))
            if isinstance(b.op, (ast.BitAnd, ast.BitOr)):
                sym = "&" if isinstance(b.op, ast.BitAnd) else "|"
                raise self.fail(f"operator '{sym}' only combines conditions inside where(): "
                                f"where((x > 0) {sym} (x < 1), a, b)", b)
            if not isinstance(b.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.MatMult)):
                sym = {ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>",
                       ast.BitOr: "|", ast.BitAnd: "&"}.get(type(b.op), type(b.op).__name__)
                raise self.fail(f"operator '{sym}' is not allowed; use + - * / ** @", b)
        self.visit(spine[-1].left, depth)
        for b in reversed(spine):
            self.visit(b.right, depth)
            if isinstance(b.op, ast.Pow):
                self._check_exponent(b.right)

    def _check_exponent(self, node: ast.AST) -> None:
        value = _const_value(node)
        if value is not None and abs(value) > MAX_EXPONENT:
            raise self.fail(f"exponent is too large (limit {MAX_EXPONENT})", node)

    def v_Call(self, node: ast.Call, depth: int) -> None:
        if isinstance(node.func, ast.Attribute):
            self._method(node, depth)
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Lambda):
                self.visit(node.func, depth)  # its own, more precise message
            raise self.fail("only the listed functions can be called, e.g. sin(x)", node.func)
        name = node.func.id
        if name not in FUNCTIONS:
            if name.startswith("__"):
                raise self.fail(f"'{name}' is not allowed: only the listed functions can be called", node.func)
            if name in ALIASES:
                raise self.fail(f"unknown function '{name}'; write {ALIASES[name]}", node.func)
            raise self.fail(f"unknown function '{name}'{_suggest(name, FUNCTIONS)}", node.func)
        fn = FUNCTIONS[name]
        params = {p[0]: p for p in fn.params}
        if len(node.args) > len(fn.params) or len(node.args) < fn.required and not node.keywords:
            lo, hi = fn.required, len(fn.params)
            count = str(lo) if lo == hi else f"{lo} or {hi}" if hi == lo + 1 else f"{lo} to {hi}"
            raise self.fail(f"{name}() takes {count} argument{'s' if hi > 1 else ''}, "
                            f"got {len(node.args)}", node)
        bound: dict[str, ast.AST] = {p[0]: arg for p, arg in zip(fn.params, node.args)}
        axis = None
        optional = [p[0] for p in fn.params if p[2] is not REQUIRED] + (["axis"] if fn.axis else [])
        for kw in node.keywords:
            if kw.arg == "axis" and fn.axis:
                axis = int_const(kw.value)
                if axis is None:
                    raise self.fail("axis must be an integer literal", kw.value)
                continue
            if kw.arg not in optional:
                allowed = ""
                if optional:
                    listed = ", ".join(f"{o}=" for o in optional)
                    allowed = f" (only {listed} {'is' if len(optional) == 1 else 'are'} allowed)"
                raise self.fail(f"{name}() got an unexpected keyword '{kw.arg or '**'}'{allowed}", kw)
            if kw.arg in bound:
                raise self.fail(f"{name}() got '{kw.arg}' twice", kw)
            bound[kw.arg] = kw.value
        missing = [p[0] for p in fn.params if p[2] is REQUIRED and p[0] not in bound]
        if missing:
            raise self.fail(f"{name}() is missing its argument '{missing[0]}'", node)
        for pname, arg in bound.items():
            self._argument(name, params[pname][1], pname, arg, depth)
        node._bound, node._axis = bound, axis  # type: ignore[attr-defined]

    def _argument(self, name: str, kind: str, pname: str, arg: ast.AST, depth: int) -> None:
        if kind == "a":
            self.visit(arg, depth)
        elif kind == "cond":
            self.condition(arg, depth)
        elif kind == "c":
            self.visit(arg, depth)
            if _const_value(arg) is None:
                raise self.fail(f"{name}()'s {pname} must be a number, e.g. {name}(x, {pname}=0.5)", arg)
        elif kind == "seq":
            if not isinstance(arg, (ast.List, ast.Tuple)) or not arg.elts:
                raise self.fail(f"{name}() takes a list of arrays: {name}([a, b], axis=0)", arg)
            for elt in arg.elts:
                self.visit(elt, depth)
        elif kind == "int":
            n = int_const(arg)
            if n is None or not 0 <= n <= MAX_EYE:
                raise self.fail(f"{name}() takes an integer literal from 0 to {MAX_EYE}", arg)
        else:  # shape
            items = arg.elts if isinstance(arg, (ast.List, ast.Tuple)) else [arg]
            for item in items:
                n = int_const(item)
                if n is None or n < -1:
                    raise self.fail(f"{name}()'s shape must be integer literals (one may be -1), "
                                    f"e.g. {name}(x, [2, 3])", item)

    def _method(self, node: ast.Call, depth: int) -> None:
        """``x.sum(axis=1)`` or ``torch.sin(x)``: point at the one functional form."""
        func = node.func
        assert isinstance(func, ast.Attribute)
        value, attr = func.value, func.attr
        module = isinstance(value, ast.Name) and value.id not in self.names and value.id in (
            "torch", "np", "numpy", "F", "math", "nn", "functional", "special", "linalg")
        if not module:
            self.visit(value, depth)  # innermost problem first: __import__(...).system
        if attr not in FUNCTIONS:
            instead = (f"write {ALIASES[attr]}" if attr in ALIASES
                       else "use the listed functions, e.g. sum(x, axis=1)")
            what = (f"'{ast.unparse(func)}' is not available" if module
                    else f"method calls are not available ('.{attr}()')")
            raise self.fail(f"{what}; {instead}", func)
        rest = [ast.unparse(a) for a in node.args] + [f"{k.arg}={ast.unparse(k.value)}" for k in node.keywords]
        if attr == "reshape" and len(node.args) > 1 and not node.keywords:  # x.reshape(2, 1): one shape list
            rest = [f"[{', '.join(rest)}]"]
        args = ", ".join(rest if module else [ast.unparse(value), *rest])
        what = f"'{ast.unparse(value)}.' prefixes are not needed" if module else "method calls are not available"
        raise self.fail(f"{what}; write {attr}({args})", func)

    def v_Subscript(self, node: ast.Subscript, depth: int) -> None:
        self.visit(node.value, depth)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for item in items:
            if isinstance(item, ast.Slice):
                for part in (item.lower, item.upper, item.step):
                    if part is not None and int_const(part) is None:
                        raise self.fail("slice bounds must be integer literals", part)
                if item.step is not None and (int_const(item.step) or 0) <= 0:
                    raise self.fail("slice step must be a positive integer", item.step)
            elif int_const(item) is None:
                raise self.fail("indices must be integer literals or slices", item)

    def v_Attribute(self, node: ast.Attribute, depth: int) -> None:
        self.visit(node.value, depth)  # innermost problem first: __import__(...).system
        if node.attr != "T":
            raise self.fail(f"attribute '.{node.attr}' is not allowed (only .T)", node)

    def v_List(self, node: ast.List, depth: int) -> None:
        if not node.elts:
            raise self.fail("empty list", node)
        for elt in node.elts:
            self.visit(elt, depth)


def _short(v: int) -> str:
    text = hex(v) if v.bit_length() > 4000 else str(v)
    return text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text)} digits)"


def _const_value(node: ast.AST) -> float | None:
    """Value of a name-free numeric subexpression, computed with overflow guards (None: not a
    constant, or not a finite number)."""
    try:
        v = _const(node)
    except RecursionError:  # a constant that deep is refused as nested elsewhere
        return None
    return v if v is not None and math.isfinite(v) else None


def _const(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and type(node.value) is not bool:
        try:
            return float(node.value)
        except OverflowError:
            return math.inf
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _const(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp):
        a, b = _const(node.left), _const(node.right)
        if a is None or b is None:
            return None
        try:
            if isinstance(node.op, ast.Pow):
                if abs(b) > MAX_EXPONENT:
                    raise ExprError(f"exponent is too large (limit {MAX_EXPONENT})", node.right)
                r = a**b
                return r.real if isinstance(r, complex) else float(r)
            ops = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}
            if type(node.op) in ops:
                return ops[type(node.op)]
            if isinstance(node.op, ast.Div):
                return a / b if b else None
        except OverflowError:
            raise ExprError("constant is too large", node) from None
    return None

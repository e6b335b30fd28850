"""Hypothesis strategies for fuzzing the expression parser and the problem-file loader.

Shared by tests/test_fuzz.py (a small, derandomized budget) and tools/fuzz.py (the long run).
The invariant both check (``outcome``): an input is accepted or refused with the product's
own error (ExprError / ProblemSpecError, or a positioned diagnostic), never anything else,
and nothing is executed.
"""

from __future__ import annotations

import sys
import textwrap
from typing import Any

from hypothesis import strategies as st

# -- expressions ---------------------------------------------------------------------------------

NAMES = ["x", "y", "A", "f", "pi", "e", "I", "T", "sin", "max", "sum", "where", "eye", "norm", "dot",
         "__import__", "__class__", "eval", "open", "os", "lambda", "for", "in", "if", "not", "axis"]
NUMBERS = ["0", "1", "2", "-1", "0.5", "1e23", "1e308", "1e309", "1e-320", "0x10", "0x7fffffff",
           "0x" + "f" * 40, "9223372036854775807", "9223372036854775808", "1" * 30, "1" * 5000, "1_000",
           "0b101", "0o17", "1j", "3.", ".5", "1e1000", "1000", "1001", "nan", "inf"]
OPS = ["+", "-", "*", "/", "**", "@", "^", "//", "%", "<", ">", "<=", "==", "!=", "&", "|", "~",
       "<<", ":=", " and ", " or ", " if ", " else "]
PUNCT = ["(", ")", "[", "]", ",", ":", ".", ".T", "=", "'", '"', "\\", "\n", " ", "#", "{", "}", "*", "!"]

tokens = st.sampled_from(NAMES + NUMBERS + OPS + PUNCT)


@st.composite
def grammar_expr(draw: Any, depth: int = 0) -> str:
    """Mostly well-formed expressions, so the fuzzer gets past the syntax check."""
    if depth > 3 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["x", "y", "x[0]", "y[1]", "A", "A[0, 1]", "A[:, 0]", "pi", "e"]
                                    + NUMBERS[:12]))
    kind = draw(st.integers(0, 7))
    a = draw(grammar_expr(depth + 1))
    if kind <= 2:
        b = draw(grammar_expr(depth + 1))
        return f"({a}) {draw(st.sampled_from(OPS[:8]))} ({b})"
    if kind == 3:
        fn = draw(st.sampled_from(["sin", "exp", "log", "sqrt", "abs", "sum", "max", "min", "norm",
                                   "prod", "softmax", "relu", "sigmoid", "tanh"]))
        return f"{fn}({a})"
    if kind == 4:
        b = draw(grammar_expr(depth + 1))
        return f"[{a}, {b}]"
    if kind == 5:
        return f"({a}).T"
    if kind == 6:
        n = draw(st.integers(2, 150))
        return " + ".join([f"({a})"] * n)
    return f"{draw(st.sampled_from(['max', 'min', 'atan2', 'dot']))}({a}, {draw(grammar_expr(depth + 1))})"


expressions = st.one_of(
    st.lists(tokens, max_size=30).map("".join),
    st.lists(tokens, max_size=12).map(" ".join),
    grammar_expr(),
    st.text(max_size=40),
)

# -- problem files -------------------------------------------------------------------------------

KEYS = ["version", "problems", "defaults", "id", "inputs", "constants", "function", "define", "checks",
        "dtype", "tolerance", "modes", "wrt", "expect", "vector", "gradient", "hessian", "jacobian",
        "value", "eigenvalues", "hvp", "random", "fill", "shape", "seed", "low", "high", "rtol", "atol",
        "xfail", "title", "tags", "grading", "points", "answer", "implementation", "x", "y", "f"]
scalars = st.one_of(
    st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.sampled_from(["f", "x", "float32", "float64", "uniform", "normal", "sum(x**2)", "x[0]*y",
                     "backward", "1e-6", "2**64", "((x**1000)**1000)**1000", "max(x)", "x.T"]),
    st.text(max_size=10),
)
data = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)), max_leaves=30)

BASE = textwrap.dedent("""\
    version: 1
    problems:
      - id: a
        inputs: {x: [1.0, 2.0]}
        constants: {c: 2.0, y: {random: normal, shape: [2], seed: 3}}
        define:
          g: x**2 * c
          f: sum(g) + dot(x, y)
        checks:
          - {gradient: f}
          - {value: c, expect: 2}
          - {jacobian: g, wrt: x}
          - {hvp: f, vector: [1, 0]}
          - {value: f, tolerance: {rtol: 1.0e-6}}
    """)
YAML_BITS = ["-", ": ", "[", "]", "{", "}", ",", "\n", "  ", "---", "...", "&a", "*a", "!!python/name:os.system",
             "!!str", "? ", "|", ">", "'", '"', "#", "1" * 50, "9" * 4400, "0x" + "f" * 30, "1.0e400", ".nan",
             "[" * 70, "]" * 70, "~", "null", "true", "x", "f", "2**64", "\t", "%YAML 1.2\n"]


@st.composite
def mutated_file(draw: Any) -> str:
    """The valid BASE file with a few random cuts, insertions and replacements."""
    text = BASE
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 8)))
        insert = draw(st.one_of(st.sampled_from(YAML_BITS + KEYS), st.text(max_size=4)))
        text = text[:i] + insert + text[j:]
    return text


@st.composite
def structured_file(draw: Any) -> str:
    """Random data in problem-file shape, dumped as YAML."""
    import yaml

    problem = draw(st.fixed_dictionaries({}, optional={k: data for k in (
        "id", "inputs", "constants", "function", "define", "checks", "dtype", "tolerance", "modes")}))
    doc = {"version": draw(st.sampled_from([1, 1, 1, 2, "1", None])), "problems": [problem]}
    try:
        return yaml.safe_dump(doc, sort_keys=False)
    except (yaml.YAMLError, RecursionError, ValueError):
        return "version: 1\nproblems: []\n"


files = st.one_of(mutated_file(), structured_file(), st.text(max_size=200))

# -- the invariant -------------------------------------------------------------------------------

_RISKY = {"exec", "os.system", "subprocess.Popen", "os.posix_spawn", "os.exec", "os.spawn", "os.fork"}
_seen: list[str] = []
_watching = [False]


def _hook(event: str, args: Any) -> None:
    if _watching[0] and event in _RISKY:
        _seen.append(event)


_installed = [False]


def watch() -> None:
    """Install (once per process) an audit hook recording code execution and process creation."""
    if not _installed[0]:
        sys.addaudithook(_hook)
        _installed[0] = True


def outcome_expr(source: str) -> str:
    """'accepted' or 'refused' (an ExprError); anything else raises."""
    from verifier._expr import ExprError, parse

    _seen.clear()
    _watching[0] = True
    try:
        parse(source, {"x", "y", "A", "f"})
        result = "accepted"
    except ExprError as exc:
        assert exc.line >= 1 and exc.col >= 1, (source, exc.message, exc.line, exc.col)
        result = "refused"
    finally:
        _watching[0] = False
    assert not _seen, f"executed: {_seen} for {source!r}"
    return result


def outcome_file(text: str, *, preflight: bool = True) -> str:
    """'accepted', 'refused' (ProblemSpecError, or positioned diagnostics); anything else raises."""
    from verifier._errors import ProblemSpecError
    from verifier._preflight import preflight as check
    from verifier._spec import loads

    _seen.clear()
    _watching[0] = True
    try:
        try:
            pf = loads(text, "fuzz.yaml")
        except ProblemSpecError as exc:
            assert exc.diagnostics and all(d.line >= 1 and d.col >= 1 for d in exc.diagnostics)
            return "refused"
        diags = [d for p in pf.problems for d in (check(p).all if preflight else p.errors)]
        assert all(d.line >= 1 and d.col >= 1 and d.file == "fuzz.yaml" for d in diags), diags
        return "refused" if diags else "accepted"
    finally:
        _watching[0] = False
        assert not _seen, f"executed: {_seen} for {text!r}"

"""The expression language: a whitelist parsed with ast, and errors that point at the column."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from verifier._autodiff import TorchOps, forward
from verifier._expr import ExprError, Origin, parse
from verifier._interpret import evaluate
from verifier._symbolic import SymOps

NAMES = {"x", "w", "A"}


def error(source: str) -> tuple[str, int]:
    with pytest.raises(ExprError) as info:
        parse(source, NAMES, Origin(1, 1))
    return info.value.message, info.value.col


@pytest.mark.parametrize("source, message, col", [
    ("__import__('os').system('echo pwned')", "'__import__' is not allowed: only the listed functions "
     "can be called", 1),
    ("x.__class__.__bases__", "attribute '.__class__' is not allowed (only .T)", 1),
    ("__builtins__", "name '__builtins__' is not allowed", 1),
    ("x ^ 2", "'^' is not a power here; use ** for powers (x**2)", 3),
    ("10**10**10**10", "exponent is too large (limit 1000)", 9),
    ("x**1001", "exponent is too large (limit 1000)", 4),
    ("(lambda: 1)()", "lambda is not allowed", 2),
    ("[i for i in x]", "comprehensions are not allowed", 1),
    ("'hello'", "strings are not allowed", 1),
    ("sum(x, dim=0)", "sum() got an unexpected keyword 'dim' (only axis= is allowed)", 8),
    ("sin(x, axis=0)", "sin() got an unexpected keyword 'axis'", 8),
    ("x.shape", "attribute '.shape' is not allowed (only .T)", 1),
    ("sinn(x)", "unknown function 'sinn'; did you mean 'sin'?", 1),
    ("y + 1", "unknown name 'y'", 1),
    ("x if x else w", "conditional expressions are not allowed", 1),
    ("x < 1", "comparisons are only allowed in where()'s condition, e.g. where(x > 0, x, 0)", 1),
    ("x // 2", "operator '//' is not allowed; use + - * / ** @", 1),
    ("x[w]", "indices must be integer literals or slices", 3),
    ("x[::-1]", "slice step must be a positive integer", 5),
    ("open('/etc/passwd')", "unknown function 'open'", 1),
    ("sin", "function 'sin' must be called, e.g. sin(x)", 1),
    ("atan2(x)", "atan2() takes 2 arguments, got 1", 1),
    ("1e999", "number is too large (not finite in float64)", 1),
    ("3j", "complex literals are (use I for the imaginary unit) not allowed", 1),
])
def test_hostile_or_unsupported_expressions_are_refused_at_their_column(source, message, col):
    assert error(source) == (message, col)


def test_deep_nesting_is_refused_with_its_own_message():
    msg, _ = error("(" * 500 + "x" + ")" * 500)
    assert msg == "syntax error: too many nested parentheses"
    msg, _ = error("-" * 5000 + "x")
    assert "nested too deeply" in msg or "cannot be parsed" in msg


def test_overlong_expressions_are_refused():
    assert error("x+" * 20000 + "x")[0].startswith("expression is too long")


def test_syntax_errors_point_at_the_column_with_the_origin_added():
    with pytest.raises(ExprError) as info:
        parse("x + * 2", NAMES, Origin(7, 20))
    assert (info.value.line, info.value.col) == (7, 24)
    assert info.value.message.startswith("syntax error")


def both(source: str, env: dict[str, np.ndarray]):
    """Evaluate with both interpreters; return (sympy result as floats, torch result)."""
    e = parse(source, set(env))
    sym_env = {k: np.asarray(v, dtype=object) for k, v in env.items()}
    sym_env = {k: np.vectorize(lambda t: __import__("sympy").Rational(float(t)), otypes=[object])(v)
               for k, v in sym_env.items()}
    s = evaluate(e.tree, sym_env, SymOps())
    t = evaluate(e.tree, {k: torch.tensor(v, dtype=torch.float64) for k, v in env.items()},
                 TorchOps(torch.float64))
    s_num = np.vectorize(lambda z: float(z.evalf(30)), otypes=[float])(np.asarray(s, dtype=object))
    return s_num, torch.as_tensor(t).numpy()


@pytest.mark.parametrize("source", [
    "x @ A", "A @ x", "x @ x", "A.T", "A[:, 0] + A[:, 1] + A[1:, 1].T @ x[:-1]", "x[:-1] * x[1:]",
    "[x[0], 2 * x[1], 3]",
    "sum(A, axis=0)", "mean(A, axis=-1)", "prod(x)", "logsumexp(A, axis=1)", "softmax(A, axis=0)",
    "softmax(x)", "max(A)", "min(A, axis=0)", "max(x, 0.5)", "dot(x, x)", "norm(A)", "A + x",
    "atan2(x, 2)", "sigmoid(x) + softplus(x) + relu(x - 1) + erf(x) + log1p(x) + expm1(x)",
    "sin(x) * cos(x) / tan(x + 1) + asin(x/4) + acos(x/4) + atan(x) + sinh(x) + cosh(x) + tanh(x)",
    "exp(x) + log(x) + sqrt(x) + abs(x - 2) + sign(x - 2) + pi * e",
])
def test_both_interpreters_agree_on_the_language(source):
    env = {"x": np.array([1.0, 2.0, 3.0]), "A": np.array([[1.0, 2.0, 0.5], [3.0, -1.0, 2.0], [0.25, 1.0, 1.0]])}
    s, t = both(source, env)
    assert s.shape == t.shape
    np.testing.assert_allclose(s, t, rtol=1e-12, atol=1e-12)


def test_a_yaml_style_list_literal_builds_an_array():
    s, t = both("[x[0] * x[1], x[1]]", {"x": np.array([2.0, 3.0])})
    assert s.tolist() == [6.0, 3.0] == t.tolist()


def test_shape_mismatch_in_matmul_points_at_the_operator():
    e = parse("x @ A", {"x", "A"}, Origin(3, 10))
    with pytest.raises(ExprError) as info:
        forward({"f": e}, {"x": torch.ones(2), "A": torch.ones(3, 3)}, torch.float64)
    assert info.value.message == "shapes (2,) and (3, 3) are not aligned for '@' (2 != 3)"
    assert (info.value.line, info.value.col) == (3, 10)


def test_broadcast_errors_name_both_shapes():
    e = parse("x + A", {"x", "A"})
    with pytest.raises(ExprError, match=r"shapes \(2,\) and \(3, 3\) cannot be broadcast together for '\+'"):
        forward({"f": e}, {"x": torch.ones(2), "A": torch.ones(3, 3)}, torch.float64)


def test_a_point_outside_the_domain_is_reported_at_the_function():
    e = parse("x + log(x - 2)", {"x"}, Origin(1, 1))
    with pytest.raises(ExprError) as info:
        forward({"f": e}, {"x": torch.tensor(1.0)}, torch.float64, check_domain=True)
    assert info.value.message == "log() is outside its domain at this point (gives nan)"
    assert info.value.col == 5


def test_out_of_range_indices_and_axes_are_errors():
    for src, msg in [("x[5]", "index 5 is invalid for shape (3,)"),
                     ("sum(x, axis=1)", "axis 1 is out of range for an array with 1 dimensions")]:
        e = parse(src, {"x"})
        with pytest.raises(ExprError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            forward({"f": e}, {"x": torch.ones(3)}, torch.float64)

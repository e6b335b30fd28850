"""The expression language's functions (issue 10): both interpreters agree with torch at generic
points, the verdict at kinks follows torch's conventions and the exact one-sided values, and the
parser points a user at the one functional form."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch
import yaml

import verifier
from verifier._autodiff import TorchOps
from verifier._expr import ExprError, Origin, parse
from verifier._functions import FUNCTIONS
from verifier._interpret import evaluate
from verifier._symbolic import SymOps, symbols_for

ROOT = Path(__file__).resolve().parent.parent
BANK = ROOT / "tests" / "banks" / "language.problems.yaml"


# ---- both interpreters against torch's own forward and gradient, at generic points ------------

def reference_and_torch(source: str, inputs: dict[str, list], constants: dict[str, list] | None = None,
                        dtype: torch.dtype = torch.float64):
    """Value and gradient of ``sum(w * source)`` (w fixed weights): exact SymPy, and torch's autograd."""
    constants = constants or {}
    expr = parse(source, set(inputs) | set(constants))
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}
    syms = {k: symbols_for(k, a.shape) for k, a in arrays.items()}
    exact = {k: np.vectorize(lambda t: sp.Rational(float(t)), otypes=[object])(np.asarray(v, dtype=np.float64))
             for k, v in constants.items()}
    out = np.asarray(evaluate(expr.tree, {**syms, **exact}, SymOps()), dtype=object)
    weights = [sp.Rational(k + 2, 3) for k in range(out.size)]
    total = sp.Add(*(w * e for w, e in zip(weights, out.flat)))
    point = {s: sp.Rational(float(v)) for k, a in arrays.items() for s, v in zip(syms[k].flat, a.flat)}
    flat_syms = [s for k in arrays for s in syms[k].flat]
    ref_value = np.array([float(sp.N(e.xreplace(point), 30)) for e in out.flat])
    ref_grad = np.array([float(sp.N(total.diff(s).xreplace(point), 30)) for s in flat_syms])

    leaves = {k: torch.tensor(a, dtype=dtype, requires_grad=True) for k, a in arrays.items()}
    env = {**leaves, **{k: torch.tensor(v, dtype=dtype) for k, v in constants.items()}}
    t = torch.as_tensor(evaluate(expr.tree, env, TorchOps(dtype)))
    w = torch.tensor([float(x) for x in weights], dtype=dtype)
    grads = torch.autograd.grad((w * t.reshape(-1)).sum(), list(leaves.values()), allow_unused=True)
    t_grad = torch.cat([(g if g is not None else torch.zeros_like(leaves[k])).reshape(-1)
                        for k, g in zip(leaves, grads)])
    return ref_value, ref_grad, t.detach().reshape(-1).double().numpy(), t_grad.double().numpy()


X = [-1.3, -0.4, 0.6, 2.2]
GENERIC = [
    ("where((x > 0) & (x < 1) | (x <= -1), x**3, exp(x))", {"x": X}, None),
    # dyadic values: a literal is compared exactly (0.6 as a literal is 3/5 until issue 8's binary literals)
    ("where(~(x >= 0.5), sin(x), x) + where(x == 0.625, 1, 0) + where(x != 2.25, x, -x)",
     {"x": [-1.25, -0.5, 0.625, 2.25]}, None),
    ("clamp(x, -0.5, 1) + clamp(x, min=0) + clamp(x, max=0)", {"x": X}, None),
    ("clamp(x, lo, 2*lo)", {"x": X, "lo": [-2.0, -0.3, 0.1, 0.5]}, None),
    ("maximum(x, 1 - x) + minimum(x, x**2)", {"x": X}, None),
    ("sinc(x) + sinc(3*x)", {"x": X}, None),
    ("logit(p)", {"p": [0.1, 0.45, 0.9]}, None),
    ("log_softmax(z, axis=0) + log_softmax(z)", {"z": [[1.0, -2.0], [0.5, 0.25]]}, None),
    ("cross_entropy(z, y)", {"z": [[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]}, {"y": [2, 0]}),
    ("cross_entropy(z, p)", {"z": [[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]],
                             "p": [[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]}, None),
    ("cross_entropy(z, 1)", {"z": [1.0, -2.0, 0.5]}, None),
    ("nll(z, y)", {"z": [[-1.0, -2.0, -0.5], [-0.1, -3.0, -1.0]]}, {"y": [1, 2]}),
    ("binary_cross_entropy(p, y)", {"p": [0.1, 0.45, 0.9], "y": [0.0, 0.3, 1.0]}, None),
    ("binary_cross_entropy_with_logits(x, y)", {"x": [-3.0, 0.4, 2.0], "y": [0.0, 0.3, 1.0]}, None),
    ("mse(a, b)", {"a": [1.0, -2.0], "b": [0.5, 0.5]}, None),
    ("huber(a, b) + huber(a, b, delta=0.3) + huber(a, b, 4)", {"a": [1.0, -2.0, 0.2], "b": [0.5, 0.5, 0.0]}, None),
    ("gelu(x) + silu(x) + mish(x) + softsign(x) + selu(x)", {"x": X}, None),
    ("elu(x) + elu(x, 0.3) + leaky_relu(x) + leaky_relu(x, negative_slope=0.2)", {"x": X}, None),
    ("hardtanh(x) + hardtanh(x, -0.5, 0.5) + hardtanh(x, min_val=-2, max_val=0)", {"x": X}, None),
    ("lgamma(x) + erfc(x)", {"x": X}, None),
    ("digamma(x)", {"x": X}, None),
    ("cumsum(A, axis=0) + cumsum(A, axis=1) + reshape(cumsum(A), [2, 2])", {"A": [[1.0, 2.0], [-0.5, 3.0]]}, None),
    ("trace(A) + det(A) + inv(A) + outer(v, v) + diag(v) + eye(2) + diag(diag(A))",
     {"A": [[2.0, 1.0], [0.5, 3.0]], "v": [1.5, -1.0]}, None),
    ("det(A) * inv(A)", {"A": [[2.0, 1.0, 0.0], [0.5, 3.0, 1.0], [1.0, 0.0, 4.0]]}, None),
    ("concatenate([A, A**2], axis=1) + 0", {"A": [[2.0, 1.0], [0.5, 3.0]]}, None),
    ("sum(concatenate([v, v**2, [1]])) + stack([v, 2*v]).T[0, 0] + stack([v, v], axis=1)[:, 1]",
     {"v": [2.0, -1.0]}, None),
]


@pytest.mark.parametrize("source, inputs, constants", GENERIC, ids=[g[0][:40] for g in GENERIC])
def test_each_function_agrees_with_torch_at_generic_points(source, inputs, constants):
    ref_value, ref_grad, t_value, t_grad = reference_and_torch(source, inputs, constants)
    np.testing.assert_allclose(t_value, ref_value, rtol=1e-12, atol=1e-13)
    # torch's float64 trigamma (digamma's derivative) is good to about 1e-9 relative
    rtol = 1e-8 if source.startswith("digamma") else 1e-11
    np.testing.assert_allclose(t_grad, ref_grad, rtol=rtol, atol=1e-12)


def test_every_function_is_exercised_by_the_generic_points_and_the_bank():
    used = {m for source, _, _ in GENERIC for m in re.findall(r"([a-z_0-9]+)\(", source)}
    bank = BANK.read_text()
    new = set(FUNCTIONS) - set(verifier._functions.RESERVED_FUNCTIONS)
    assert new - used == set()
    assert {f for f in new if not re.search(rf"\b{f}\(", bank)} == set()


# ---- ties and boundaries: torch's value there, its convention, and the exact verdict -----------

def run_yaml(tmp_path: Path, text: str):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return verifier.run(path)


def one(tmp_path: Path, function: str, inputs: str, check: str = "{gradient: f}"):
    res = run_yaml(tmp_path, f"version: 1\nproblems:\n  - id: p\n    inputs: {inputs}\n"
                             f"    function: {function}\n    checks: [{check}]\n")
    assert not res.file_errors and res.problems[0].error in ("", None), (res.file_errors, res.problems[0].error)
    return res.problems[0].checks[0]


KINKS = [  # function, input, exact left, exact right, torch's gradient there (its convention)
    ("clamp(x, 0, 1)", 0.0, 0.0, 1.0, 1.0),
    ("clamp(x, 0, 1)", 1.0, 1.0, 0.0, 1.0),
    ("clamp(x, min=-2)", -2.0, 0.0, 1.0, 1.0),
    ("hardtanh(x)", -1.0, 0.0, 1.0, 0.0),
    ("hardtanh(x)", 1.0, 1.0, 0.0, 0.0),
    ("leaky_relu(x)", 0.0, 0.01, 1.0, 0.01),
    ("elu(x, alpha=0.5)", 0.0, 0.5, 1.0, 0.5),
    ("selu(x)", 0.0, 1.7580993408473766, 1.0507009873554805, 1.7580993408473766),
    ("maximum(x, 1)", 1.0, 0.0, 1.0, 0.5),
    ("minimum(x, 1)", 1.0, 1.0, 0.0, 0.5),
    ("max(x, 0)", 0.0, 0.0, 1.0, 0.5),
    ("relu(x)", 0.0, 0.0, 1.0, 0.0),
    ("where(x > 0, 2*x, -x)", 0.0, -1.0, 2.0, -1.0),
    ("where(x <= 1, x**2, 2*x - 1)", 1.0, 2.0, 2.0, None),  # same derivative both sides: differentiable
    ("huber(x, 0)", 1.0, 1.0, 1.0, None),
]


@pytest.mark.parametrize("function, x, left, right, torch_grad", KINKS, ids=[f"{k[0]}@{k[1]}" for k in KINKS])
def test_at_a_switch_the_check_is_nondifferentiable_with_the_one_sided_values(tmp_path, function, x, left,
                                                                              right, torch_grad):
    res = one(tmp_path, function, f"{{x: {x}}}")
    if left == right:
        assert res.status == "passed" and float(res.reference) == left
        return
    assert res.status == "nondifferentiable", res.report()
    assert (float(res.left), float(res.right)) == pytest.approx((left, right), rel=1e-15)
    # torch's convention there (the README's table), and it is a subgradient
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = evaluate(parse(function, {"x"}).tree, {"x": t}, TorchOps(torch.float64))
    (g,) = torch.autograd.grad(out, t)
    assert float(g) == pytest.approx(torch_grad, rel=1e-15)
    assert min(left, right) <= float(g) <= max(left, right)


def test_a_jump_in_where_is_nondifferentiable_and_its_value_is_torchs(tmp_path):
    res = run_yaml(tmp_path, """version: 1
problems:
  - id: jump
    inputs: {x: 0.0}
    function: where(x > 0, 1 + x, x)
    checks: [{value: f, expect: 0}, {gradient: f}]
  - id: equality
    inputs: {x: 2.0}
    function: where(x == 2, 5, x)
    checks: [{value: f, expect: 5}, {gradient: f}]
""")
    for p in res.problems:
        value, grad = p.checks
        assert value.status == "passed"
        assert grad.status == "nondifferentiable" and "discontinuous" in grad.message


def test_branches_that_touch_without_crossing_are_not_kinks(tmp_path):
    # x**2 > 0 is false only at 0 itself: near 0 the function is x**2 on both sides, so its
    # Hessian is 2. torch takes the other branch at 0 and says 0: that is a failure.
    h = one(tmp_path, "where(x**2 > 0, x**2, 0)", "{x: 0.0}", "{hessian: f}")
    assert h.status == "failed" and h.reference.tolist() == [[2.0]]
    g = one(tmp_path, "where(x**2 > 0, x**2, 0)", "{x: 0.0}")
    assert g.status == "passed" and float(g.reference) == 0.0
    assert one(tmp_path, "maximum(x**2, 0)", "{x: 0.0}", "{hessian: f}").reference.tolist() == [[2.0]]
    # a switch with an odd first nonzero derivative does cross
    assert one(tmp_path, "where(x**3 > 0, x, 0)", "{x: 0.0}").status == "nondifferentiable"
    # a touching switch whose branches disagree at the point is a (removable) jump
    assert one(tmp_path, "where(x**2 > 0, x**2, 1)", "{x: 0.0}").status == "nondifferentiable"


def test_several_comparisons_at_their_switch_together(tmp_path):
    res = one(tmp_path, "where((x > 0) & (y > 0), x*y + x, 0)", "{x: 0.0, y: 0.0}")
    assert res.status == "nondifferentiable"
    assert res.left.tolist() == [0.0, 0.0] and res.right.tolist() == [1.0, 0.0]


# ---- the shared cases G1-G3 (copied from the examples) ---------------------------------

def test_g1_torch_nan_from_the_unused_sqrt_branch_of_where_is_a_failure(tmp_path):
    res = run_yaml(tmp_path, """version: 1
problems:
  - id: where-sqrt
    inputs: {x: [-1, -4]}
    function: sum(where(x > 0, sqrt(x), x))
    checks: [{gradient: f}]
""")
    check = res.problems[0].checks[0]
    assert res.problems[0].status == "failed" and res.exit_code == 1
    assert check.reference.tolist() == [1.0, 1.0]  # exact: the unused branch does not contribute
    assert np.isnan(check.modes["backward"].actual).all() and check.modes["backward"].status == "failed"
    # forward mode never multiplies the nan tangent by 0, so it gets it right
    assert check.modes["jacfwd"].status == "passed"


def test_g1_variant_float32_and_a_safe_where_pass(tmp_path):
    res = run_yaml(tmp_path, """version: 1
problems:
  - id: safe-where
    dtype: float32
    inputs: {t: [-1, -4, 2.25]}
    function: sum(where(t > 0, sqrt(where(t > 0, t, 1)), t))
    checks: [{gradient: f, expect: [1, 1, 1/3]}]
""")
    assert res.problems[0].status == "passed", res.problems[0].checks[0].report()


def test_g2_clamp(tmp_path):
    assert one(tmp_path, "sum(clamp(x, 0, 1))", "{x: [0.5]}").status == "passed"
    low = one(tmp_path, "sum(clamp(x, 0, 1))", "{x: [0]}")
    high = one(tmp_path, "sum(clamp(x, 0, 1))", "{x: [1]}")
    assert low.status == high.status == "nondifferentiable"
    assert (low.left.tolist(), low.right.tolist()) == ([0.0], [1.0])
    assert (high.left.tolist(), high.right.tolist()) == ([1.0], [0.0])


def test_g3_sinc_by_name_has_its_limit_hessian_and_torchs_nan_fails(tmp_path):
    check = one(tmp_path, "sinc(t)", "{t: 0}", '{hessian: f, expect: "[[-pi**2/3]]"}')
    assert check.status == "failed" and check.expect.passed
    assert check.reference.tolist() == [[pytest.approx(-np.pi**2 / 3, rel=1e-15)]]
    assert np.isnan(check.modes["backward"].actual).all()


def test_g3_sinc_by_formula_has_its_limit_hessian(tmp_path):
    check = one(tmp_path, "sin(pi*t)/(pi*t)", "{t: 0}", '{hessian: f, expect: "[[-pi**2/3]]"}')
    assert check.status == "failed" and check.expect.passed


def test_sinc_derivatives_at_zero_are_the_limits_of_its_series():
    from verifier._symfunctions import Sinc

    t = sp.Symbol("t", real=True)
    series = sp.series(sp.sin(sp.pi * t) / (sp.pi * t), t, 0, 8).removeO()
    for n in range(7):
        assert sp.simplify(Sinc(t).diff(t, n).xreplace({t: sp.Integer(0)}) - series.diff(t, n).subs(t, 0)) == 0
    assert Sinc(sp.Rational(1, 2)) == 2 / sp.pi


def test_lgamma_is_real_for_negative_arguments_like_torch(tmp_path):
    check = one(tmp_path, "lgamma(x)", "{x: -2.5}", "{value: f}")
    assert check.status == "passed"
    assert float(check.reference) == pytest.approx(float(torch.lgamma(torch.tensor(-2.5, dtype=torch.float64))))


# ---- the bank: passes on every AD path; a wrong expect fails for every check kind -------------

@pytest.fixture(scope="module")
def bank_result():
    return verifier.run(BANK)


def test_the_language_bank_runs_every_ad_path(bank_result):
    res = bank_result
    modes = {m for p in res.problems for c in p.checks for m in c.modes}
    assert {"backward", "functional", "jacrev", "jacfwd", "hessian_fwdrev", "value"} <= modes
    tags = {p["id"]: set(p.get("tags", [])) for p in yaml.safe_load(BANK.read_text())["problems"]}
    for p in res.problems:
        for c in p.checks:
            if c.status == "nondifferentiable":  # only at a switch, never at a generic point
                assert tags[p.id] & {"kink", "smooth-switch"}, (p.id, c.name)
                assert c.left is not None and c.right is not None
                continue
            assert c.status == "passed", (p.id, c.report())
            assert all(m.status == "passed" for m in c.modes.values()), (p.id, c.name)


def test_a_wrong_expect_fails_for_every_check_kind_of_the_bank(tmp_path, bank_result):
    res = bank_result
    data = yaml.safe_load(BANK.read_text())
    refs = {(p.id, i): c for p in res.problems for i, c in enumerate(p.checks)}
    wrong = copy.deepcopy(data)
    for p in wrong["problems"]:
        for i, c in enumerate(p["checks"]):
            ref = refs[(p["id"], i)].reference
            c["expect"] = (np.asarray(ref).real + 1e-3 * (1 + np.abs(np.asarray(ref)))).tolist()
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(wrong, sort_keys=False))
    out = verifier.run(path)
    kinds = set()
    for p in out.problems:
        for c in p.checks:
            if refs[(p.id, p.checks.index(c))].status == "nondifferentiable":
                continue  # a wrong expect at a kink: the verdict issue (M6)
            assert c.status == "failed" and not c.expect.passed, (p.id, c.name, c.status)
            kinds.add(c.kind)
    assert kinds == {"value", "gradient", "jacobian", "hessian", "hvp", "eigenvalues"}
    assert out.exit_code == 1


def test_torch_forward_over_forward_hessian_of_det_is_caught(tmp_path):
    # torch 2.13: jacfwd(jacfwd(torch.linalg.det)) is wrong; every other path is right.
    check = one(tmp_path, "det(A)", "{A: [[2.0, 1.0], [0.5, 3.0]]}", "{hessian: f}")
    assert check.status == "failed"
    assert {m: r.status for m, r in check.modes.items()} == {
        "backward": "passed", "functional": "passed", "jacrev": "passed", "jacfwd": "failed",
        "hessian_fwdrev": "passed"}


# ---- the parser: one functional form, and messages that say what to write ----------------------

NAMES = {"x", "y", "A"}


@pytest.mark.parametrize("source, message", [
    ("x.sum(axis=1)", "method calls are not available; write sum(x, axis=1)"),
    ("A.T.det()", "method calls are not available; write det(A.T)"),
    ("x.clamp(0, 1)", "method calls are not available; write clamp(x, 0, 1)"),
    ("torch.sin(x)", "'torch.' prefixes are not needed; write sin(x)"),
    ("F.gelu(x)", "'F.' prefixes are not needed; write gelu(x)"),
    ("x.backward()", "method calls are not available ('.backward()'); use the listed functions, e.g. "
     "sum(x, axis=1)"),
    ("where(x > 0 and x < 1, x, 0)", "'and' is not allowed in a condition; use & (with parentheses around "
     "each comparison): where((x > 0) & (x < 1), a, b)"),
    ("where(x > 0 or y > 0, x, 0)", "'or' is not allowed in a condition; use | (with parentheses around "
     "each comparison): where((x > 0) & (x < 1), a, b)"),
    ("where(not x > 0, x, 0)", "'not' is not allowed in a condition; use ~ (with parentheses around "
     "each comparison): where((x > 0) & (x < 1), a, b)"),
    ("x > 0 and y", "'and'/'or' are not allowed; combine conditions with & and | (and ~ for not): "
     "where((x > 0) & (x < 1), a, b)"),
    ("not x", "'not' is not allowed; negate a condition with ~: where(~(x > 0), a, b)"),
    ("where(0 < x < 1, x, 0)", "chained comparisons are not allowed; write (a < x) & (x < b), with the "
     "parentheses (& binds tighter than <)"),
    ("where(x > 0 & y > 0, x, 0)", "chained comparisons are not allowed; write (a < x) & (x < b), with the "
     "parentheses (& binds tighter than <)"),
    ("where(x, x, 0)", "a condition must be a comparison such as x > 0 (combine with & | ~)"),
    ("x & y", "operator '&' only combines conditions inside where(): where((x > 0) & (x < 1), a, b)"),
    ("~x", "operator '~' only negates a condition inside where(): where(~(x > 0), a, b)"),
    ("x * (x > 0)", "comparisons are only allowed in where()'s condition, e.g. where(x > 0, x, 0)"),
    ("where(x is None, x, 0)", "'Is' is not a comparison here; use < <= > >= == !="),
    ("huber(x, y, dlta=2)", "huber() got an unexpected keyword 'dlta' (only delta= is allowed)"),
    ("clamp(x, min=0, max=1, min=2)", "clamp() got 'min' twice"),
    ("leaky_relu(x, y)", "leaky_relu()'s negative_slope must be a number, e.g. leaky_relu(x, negative_slope=0.5)"),
    ("reshape(x, [2, y])", "reshape()'s shape must be integer literals (one may be -1), e.g. reshape(x, [2, 3])"),
    ("eye(x)", "eye() takes an integer literal from 0 to 1000"),
    ("eye(100000)", "eye() takes an integer literal from 0 to 1000"),
    ("concatenate(x, y)", "concatenate() takes 1 argument, got 2"),
    ("stack(x)", "stack() takes a list of arrays: stack([a, b], axis=0)"),
    ("where(x > 0, x)", "where() takes 3 arguments, got 2"),
    ("cross_entropy(x)", "cross_entropy() takes 2 arguments, got 1"),
    ("clamp()", "clamp() takes 1 to 3 arguments, got 0"),
    ("sinc", "function 'sinc' must be called, e.g. sinc(x)"),
    ("clip(x, 0, 1)", "unknown function 'clip'; write clamp(x, lo, hi)"),
    ("cat([x, y])", "unknown function 'cat'; write concatenate([a, b], axis=0)"),
    ("x.pow(2)", "method calls are not available ('.pow()'); write x**p"),
    ("A.t()", "method calls are not available ('.t()'); write x.T"),
    ("torch.matmul(A, x)", "'torch.matmul' is not available; write a @ b"),
])
def test_the_parser_points_at_the_functional_form(source, message):
    with pytest.raises(ExprError) as info:
        parse(source, NAMES, Origin(1, 1))
    assert info.value.message == message


@pytest.mark.parametrize("source, message", [
    ("cross_entropy(A, x)", "cross_entropy() with input of shape (2, 3) takes class indices of shape (2,) or "
     "class probabilities of shape (2, 3), got (3,)"),
    ("nll(A, A)", "nll() with input of shape (2, 3) takes class indices of shape (2,), got (2, 3)"),
    ("det(A)", "det() takes a square matrix, got shape (2, 3)"),
    ("trace(x)", "trace() takes a 2-D array, got shape (3,)"),
    ("outer(A, x)", "outer() takes two 1-D arrays, got (2, 3) and (3,)"),
    ("mse(A, x)", "mse() takes input and target of the same shape, got (2, 3) and (3,)"),
    ("reshape(A, [4, -1])", "cannot reshape an array of shape (2, 3) into (4, -1)"),
    ("reshape(A, [5])", "cannot reshape an array of shape (2, 3) (6 elements) into (5,)"),
    ("concatenate([A, x], axis=0)", "concatenate() takes arrays of the same shape except along axis 0, got "
     "(2, 3), (3,)"),
    ("concatenate([x[0], x[1]])", "concatenate() cannot join 0-D arrays; use stack() or a list literal [a, b]"),
    ("stack([A, x])", "stack() takes arrays of the same shape, got (2, 3), (3,)"),
    ("cumsum(x, axis=1)", "axis 1 is out of range for an array with 1 dimensions"),
    ("where(x > A[:, :2], x, 0)", "shapes (3,) and (2, 2) cannot be broadcast together for '>'"),
    ("clamp(x)", "clamp() needs at least one bound: clamp(x, lo, hi), clamp(x, min=lo) or clamp(x, max=hi)"),
    ("cross_entropy(A, [0, 3])", "cross_entropy()'s target 3 is not a class index in 0..2"),
    ("cross_entropy(A, [0, 0.5])", "cross_entropy()'s target 1/2 is not a class index in 0..2"),
])
def test_shape_and_target_errors_are_the_same_in_both_interpreters(source, message):
    expr = parse(source, {"x", "A"})
    sym_env = {"x": symbols_for("x", (3,)), "A": np.asarray([[sp.Integer(1)] * 3] * 2, dtype=object)}
    with pytest.raises(ExprError) as sym_info:
        evaluate(expr.tree, sym_env, SymOps())
    assert sym_info.value.message == message
    assert sym_info.value.col == (7 if message.endswith("'>'") else 1)  # the comparison, or the call
    if "'s target" in message:  # torch reads a class index from its value
        message = message.split("'s target")[0] + "'s target must hold class indices in 0..2"
    torch_env = {"x": torch.ones(3, dtype=torch.float64), "A": torch.ones(2, 3, dtype=torch.float64)}
    with pytest.raises(ExprError) as torch_info:
        evaluate(expr.tree, torch_env, TorchOps(torch.float64))
    assert torch_info.value.message == message


def test_an_index_target_that_is_an_input_is_refused_with_a_fix(tmp_path):
    res = run_yaml(tmp_path, """version: 1
problems:
  - id: p
    inputs: {z: [1.0, 2.0, 0.5], y: 1}
    function: cross_entropy(z, y)
    checks: [{gradient: f, wrt: z}]
""")
    # refused before differentiating, at the call (red-team R1: `check` and `run` agree)
    (prob,) = res.problems
    assert prob.status == "error" and not prob.checks
    assert ":5:15: cross_entropy()'s class-index target must be a constant (put it under constants:)" in prob.error


def test_new_function_names_can_still_name_a_users_define(tmp_path):
    res = run_yaml(tmp_path, """version: 1
problems:
  - id: p
    inputs: {z: [1.0, 2.0], y: [0.5, 0.5]}
    define:
      mse: mse(z, y)
      nll: 2 * mse
      det: nll + 1
    checks: [{value: det, expect: 3.5}, {gradient: det, expect: [1, 3, -1, -3]}]
""")
    assert res.problems[0].status == "passed", res.problems[0].error


def test_the_readme_lists_every_function_with_the_torch_function_it_mirrors():
    readme = (ROOT / "README.md").read_text()
    for name, fn in FUNCTIONS.items():
        row = re.search(rf"^\| `{name}\(.*$", readme, re.M)
        assert row, f"{name} is missing from the README's language table"
        assert fn.torch.split(" ")[0] in row.group(0), name


def test_a_switch_of_an_input_not_differentiated_is_no_kink(tmp_path):
    # c sits at where's switch, but only x moves: f(x) = 2x there, as torch says
    check = one(tmp_path, "where(c > 0, x, 2*x)", "{x: 1.5, c: 0.0}", "{gradient: f, wrt: x}")
    assert check.status == "passed" and float(check.reference) == 2.0
    both = one(tmp_path, "where(c > 0, x, 2*x)", "{x: 1.5, c: 0.0}", "{gradient: f}")
    assert both.status == "nondifferentiable"


def test_a_kink_report_names_the_function_the_user_wrote(tmp_path):
    assert one(tmp_path, "sum(clamp(x, 0, 1))", "{x: [0.0]}").message.startswith(
        "not differentiable at this point: clamp(x[0]) at its lower bound 0 is at its kink")
    assert "where(x > 0) is discontinuous here" in one(tmp_path, "where(x > 0, 1 + x, x)", "{x: 0.0}").message
    assert "leaky_relu(x) is at its kink" in one(tmp_path, "leaky_relu(x)", "{x: 0.0}").message


def test_sinc_of_an_expression_uses_the_chain_rule_at_its_singularity(tmp_path):
    check = one(tmp_path, "sinc(2*t - 1)", "{t: 0.5}", '{hessian: f, expect: "[[-4*pi**2/3]]"}')
    assert check.expect.passed and check.status == "failed"  # torch: nan (or 0 in forward mode)
    assert one(tmp_path, "sinc(2*t - 1)", "{t: 0.5}", "{gradient: f, expect: 0}").status == "passed"


@pytest.mark.parametrize("function, x, exact", [
    ("where(x > 1, sqrt(log(x)), 2*x)", 0.5, 2.0),     # sqrt(log(0.5)) is nan in the unused branch
    ("where(x > 0, x**0.5, -x)", -4.0, -1.0),
    ("where(x >= 1, 1/(x - 0.5), x)", 0.5, 1.0),        # 1/0 in the unused branch: inf * 0
])
def test_g1_variants_nan_from_any_unused_branch_fails_against_the_exact_gradient(tmp_path, function, x, exact):
    check = one(tmp_path, function, f"{{x: {x}}}")
    assert float(check.reference) == exact
    assert check.status == "failed" and check.modes["backward"].status == "failed"


@pytest.mark.parametrize("function, x, left, right", [
    ("relu(-x)", 0.0, -1.0, 0.0),
    ("max(0, x)", 0.0, 0.0, 1.0),
    ("max(x, 0)", 0.0, 0.0, 1.0),
    ("maximum(-x, 0)", 0.0, -1.0, 0.0),
    ("clamp(1 - x, 0, 1)", 1.0, -1.0, 0.0),
    ("where(-x > 0, 3*x, x)", 0.0, 3.0, 1.0),
    ("where(0 < x, x**2 + x, -x)", 0.0, -1.0, 1.0),
    ("abs(2 - x)", 2.0, -1.0, 1.0),
])
def test_left_and_right_are_by_the_side_of_the_point_whatever_the_argument_order(tmp_path, function, x, left,
                                                                                  right):
    res = one(tmp_path, function, f"{{x: {x}}}")
    assert res.status == "nondifferentiable"
    assert (float(res.left), float(res.right)) == (left, right)


def test_a_removable_singularity_in_the_branch_where_takes_is_not_a_jump(tmp_path):
    # where(x == 0, 1, sin(x)/x) is continuous at 0: the limit of sin(x)/x is 1. Not "discontinuous".
    check = one(tmp_path, "where(x == 0, 1, sin(x)/x)", "{x: 0.0}")
    assert "discontinuous" not in check.message
    assert one(tmp_path, "where(x == 0, 2, sin(x)/x)", "{x: 0.0}").status == "nondifferentiable"


def test_the_classic_where_sinc_trick_fails_against_its_limit_gradient(tmp_path):
    check = one(tmp_path, "where(x == 0, 1, sin(x)/x)", "{x: 0.0}")
    assert check.status == "failed" and float(check.reference) == 0.0  # torch: nan

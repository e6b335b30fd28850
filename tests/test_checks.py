"""Every check kind passes on a right derivative and fails on a wrong one (expect or torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import run_one

import verifier

CUBIC = """
version: 1
problems:
  - id: cubic-2d
    inputs: {x: [2, 3]}
    function: x[0]**2 * (x[0] + x[1])
    checks:
      - CHECK
"""

RIGHT = {
    "value": "{value: f, expect: 20}",
    "gradient": "{gradient: f, expect: [24, 4]}",
    "jacobian": "{jacobian: f, expect: [[24, 4]]}",
    "hessian": "{hessian: f, expect: [[18, 4], [4, 0]]}",
    "eigenvalues": "{eigenvalues: f, expect: [9 - sqrt(97), 9 + sqrt(97)]}",
    "hvp": "{hvp: f, vector: [1, -1], expect: [14, 4]}",
}
WRONG = {
    "value": "{value: f, expect: 20.001}",
    "gradient": "{gradient: f, expect: [24, 4.0001]}",
    "jacobian": "{jacobian: f, expect: [[24, 5]]}",
    "hessian": "{hessian: f, expect: [[18, 4], [4, 1e-3]]}",
    "eigenvalues": "{eigenvalues: f, expect: [9 - sqrt(96), 9 + sqrt(97)]}",
    "hvp": "{hvp: f, vector: [1, -1], expect: [14, -4]}",
}


@pytest.mark.parametrize("kind", RIGHT)
def test_each_check_kind_passes_on_every_torch_path(kind):
    res = run_one(CUBIC.replace("CHECK", RIGHT[kind]))
    (check,) = res.checks
    assert check.status == "passed", check.report()
    expected_modes = {"value": 1, "gradient": 4, "jacobian": 4, "hessian": 5, "eigenvalues": 5, "hvp": 4}
    assert len(check.modes) == expected_modes[kind]
    assert all(m.status == "passed" for m in check.modes.values())


@pytest.mark.parametrize("kind", WRONG)
def test_each_check_kind_fails_on_a_wrong_expect(kind):
    res = run_one(CUBIC.replace("CHECK", WRONG[kind]))
    (check,) = res.checks
    assert check.status == "failed"
    assert "expect does not match the exact reference" in check.report()
    assert res.status == "failed"


# A custom Function whose backward is off by a small relative amount, and one that is right
# in its first derivative but wrong in its second.
class Cube(torch.autograd.Function):
    factor = 1.0 + 1e-6

    @staticmethod
    def forward(x):
        return x**3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2 * Cube.factor

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return 3 * x**2 * t * Cube.factor

    @staticmethod
    def vmap(info, in_dims, x):
        return Cube.apply(x), in_dims[0]


class ThreeSquare(torch.autograd.Function):
    """3 x**2 with a derivative 6x that is 0.1% wrong."""

    @staticmethod
    def forward(x):
        return 3 * x**2

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 6 * x * 1.001


class CubeBadSecond(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return x**3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ThreeSquare.apply(x)


X = torch.tensor([1.0, 2.0], dtype=torch.float64)


def test_a_correct_custom_function_passes_every_kind():
    Cube.factor = 1.0
    try:
        # Cube's jvp is not itself forward-differentiable, so forward-over-forward
        # Hessians are left out here (the next test shows they catch it).
        report = verifier.check(lambda x: Cube.apply(x).sum(), "sum(x**3)", {"x": X},
                                checks=["value", "gradient", "jacobian", "hessian", "eigenvalues",
                                        {"hvp": "f", "vector": [1, 1]}],
                                modes=["backward", "functional", "jacrev"])
    finally:
        Cube.factor = 1.0 + 1e-6
    assert report.passed, report.report()


def test_forward_over_forward_through_a_custom_function_is_unsupported_not_a_failure():
    # torch's jacfwd(jacfwd) through an autograd.Function returns zeros without an error
    # (even for a correct jvp): the path is not run, and the check passes on the others.
    Cube.factor = 1.0
    try:
        report = verifier.check(lambda x: Cube.apply(x).sum(), "sum(x**3)", {"x": X}, checks=["hessian"])
    finally:
        Cube.factor = 1.0 + 1e-6
    modes = report.checks[0].modes
    assert report.checks[0].status == "passed", report.report()
    assert modes["backward"].status == modes["jacrev"].status == modes["hessian_fwdrev"].status == "passed"
    assert modes["jacfwd"].status == "unsupported"
    assert "forward-over-forward" in modes["jacfwd"].error and "Cube" in modes["jacfwd"].error


@pytest.mark.parametrize("kind", ["gradient", "jacobian", "hessian", "eigenvalues", "hvp"])
def test_a_backward_wrong_by_1e_6_relative_fails_each_derivative_kind(kind):
    check = {"hvp": "f", "vector": [1, 1]} if kind == "hvp" else kind
    report = verifier.check(lambda x: Cube.apply(x).sum(), "sum(x**3)", {"x": X}, checks=[check])
    assert not report.passed
    assert report.checks[0].status == "failed"
    failing = [m for m, r in report.checks[0].modes.items() if r.status == "failed"]
    assert "backward" in failing and "jacrev" in failing


def test_a_wrong_value_fails_the_value_check():
    report = verifier.check(lambda x: (x**3).sum() * (1 + 1e-6), "sum(x**3)", {"x": X}, checks=["value"])
    assert report.checks[0].status == "failed"


def test_a_bug_only_in_the_second_derivative_is_caught_by_the_hessian_only():
    report = verifier.check(lambda x: CubeBadSecond.apply(x).sum(), "sum(x**3)", {"x": X},
                            checks=["gradient", "hessian"], modes=["backward", "functional"])
    grad, hess = report.checks
    assert grad.status == "passed"
    assert hess.status == "failed"
    assert "[1, 1]" in hess.report()


def test_the_report_names_the_worst_element_by_index():
    report = verifier.check(lambda x: Cube.apply(x).sum(), "sum(x**3)", {"x": X}, checks=["gradient"],
                            modes=["backward"])
    text = report.report()
    assert "2 / 2 elements differ" in text
    assert text.index("[1]") < text.index("[0]")  # 12 is off by more than 3
    assert "12.000011999999998" in text


def test_gradcheck_misses_what_the_exact_check_catches():
    fn = lambda x: Cube.apply(x).sum()  # noqa: E731
    assert torch.autograd.gradcheck(fn, (X.clone().requires_grad_(),))  # finite differences: fooled
    with pytest.raises(verifier.MismatchError, match="elements differ"):
        verifier.assert_derivatives(fn, "sum(x**3)", {"x": X}, checks=["gradient"])


def test_float32_inputs_get_float32_tolerances():
    x32 = torch.tensor([1.0, 2.0], dtype=torch.float32)
    report = verifier.check(lambda x: (x**3).sum(), "sum(x**3)", {"x": x32})
    assert report.passed
    assert report.checks[1].modes["backward"].comparison.rtol == 1.3e-6


def test_a_kink_hit_exactly_is_nondifferentiable_with_left_and_right_values():
    res = run_one("""
version: 1
problems:
  - id: k
    inputs: {x: [0.0, 2.0]}
    function: abs(x[0]) + relu(x[1] - 2) + x[0]**2
    checks: [{gradient: f}, {value: f, expect: 0}]
""")
    grad, value = res.checks
    assert grad.status == "nondifferentiable"
    assert grad.left.tolist() == [-1.0, 0.0] and grad.right.tolist() == [1.0, 1.0]
    assert value.status == "passed"
    assert res.status == "passed"


def test_a_kink_that_cancels_is_checked_normally():
    res = run_one("""
version: 1
problems:
  - id: k
    inputs: {x: 0.0}
    function: abs(x)**2 + max(x, -x)**2
    checks: [{gradient: f, expect: 0}]
""")
    assert res.checks[0].status == "passed", res.checks[0].report()


def test_near_a_kink_the_check_is_normal():
    res = run_one("""
version: 1
problems:
  - id: k
    inputs: {x: [1.0e-9, 2.0]}
    function: abs(x[0]) + max(x[0], x[1])
    checks: [{gradient: f, expect: [1, 1]}]
""")
    assert res.checks[0].status == "passed", res.checks[0].report()


def test_a_tie_in_max_is_nondifferentiable():
    res = run_one("""
version: 1
problems:
  - id: k
    inputs: {x: [2.0, 2.0, 1.0]}
    function: max(x)
    checks: [{gradient: f}]
""")
    assert res.checks[0].status == "nondifferentiable"
    assert "max(" in res.checks[0].message


def test_complex_eigenvalues_of_a_non_symmetric_jacobian():
    res = run_one("""
version: 1
problems:
  - id: rot
    inputs: {x: [1.0, 2.0]}
    define: {v: "[x[0] - 2*x[1], 3*x[0] + x[1]**2]"}
    checks: [{eigenvalues: v, expect: ["5/2 - sqrt(15)*I/2", "5/2 + sqrt(15)*I/2"]}]
""")
    check = res.checks[0]
    assert check.status == "passed", check.report()
    assert np.allclose(sorted(check.reference.imag), [-np.sqrt(15) / 2, np.sqrt(15) / 2])


def test_repeated_eigenvalues_are_matched_as_a_multiset():
    res = run_one("""
version: 1
problems:
  - id: rep
    inputs: {x: [1.0, 2.0, 3.0]}
    function: sum(x**2) + x[0]*x[1]*0
    checks: [{eigenvalues: f, expect: [2, 2, 2]}]
""")
    assert res.checks[0].status == "passed", res.checks[0].report()


def test_the_gradient_wrt_an_intermediate_treats_it_as_independent():
    res = run_one("""
version: 1
problems:
  - id: lin
    inputs:
      x: [[1, 2, 3, 4]]
      w: {random: uniform, shape: [4, 3], seed: 0}
      b: {fill: 1, shape: [3]}
    constants: {y_label: [[1, 2, 3]]}
    define:
      y: x @ w + b
      loss: mean((y - y_label)**2)
    checks:
      - {gradient: loss, wrt: y}
      - {gradient: loss, wrt: x}
""")
    dy, dx = res.checks
    assert dy.status == dx.status == "passed"
    torch.manual_seed(0)
    w = torch.rand(4, 3).double()
    y = torch.tensor([[1.0, 2, 3, 4]], dtype=torch.float64) @ w + 1
    np.testing.assert_allclose(dy.reference, (2 * (y - torch.tensor([[1.0, 2, 3]])) / 3).numpy(), rtol=1e-15)


def test_random_inputs_match_what_a_student_gets_with_manual_seed():
    from helpers import problems

    from verifier._runner import ProblemRunner

    (p,) = problems("""
version: 1
problems:
  - id: r
    inputs:
      w: {random: uniform, shape: [4, 3], seed: 0}
      v: {random: normal, shape: [3], seed: 7, mean: 1, std: 2}
    function: sum(w @ v)
    checks: [{value: f}]
""")
    values = ProblemRunner(p).values()
    torch.manual_seed(0)
    assert torch.equal(values["w"], torch.rand(4, 3).double())
    torch.manual_seed(7)
    assert torch.equal(values["v"], (1 + 2 * torch.randn(3)).double())


def test_a_tolerance_override_at_check_level_wins():
    loose = CUBIC.replace("CHECK", "{value: f, expect: 20.001, tolerance: {rtol: 1e-3}}")
    assert run_one(loose).checks[0].status == "passed"


def test_modes_restrict_the_torch_paths():
    res = run_one(CUBIC.replace("CHECK", "{hessian: f, modes: [jacfwd, hessian_fwdrev]}"))
    assert list(res.checks[0].modes) == ["jacfwd", "hessian_fwdrev"]


def test_float32_problems_use_float32_tolerances_and_values():
    res = run_one("""
version: 1
problems:
  - id: f32
    dtype: float32
    inputs: {x: [0.1, 0.7]}
    function: sum(exp(x) * sin(x))
    checks: [{gradient: f}, {hessian: f}]
""")
    assert all(c.status == "passed" for c in res.checks)
    assert res.checks[0].modes["backward"].comparison.rtol == 1.3e-6


def test_a_problem_error_never_loses_other_checks(monkeypatch):
    from verifier import _runner

    calls = {"n": 0}
    real = _runner.ProblemRunner.run_check

    def flaky(self, check, values):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return real(self, check, values)

    monkeypatch.setattr(_runner.ProblemRunner, "run_check", flaky)
    res = run_one(CUBIC.replace("CHECK", "{value: f}\n      - {gradient: f}"))
    assert [c.status for c in res.checks] == ["error", "passed"]
    assert "boom" in res.checks[0].message


def test_a_hessian_too_large_to_derive_is_an_error_not_a_hang():
    res = run_one("""
version: 1
problems:
  - id: big
    inputs: {x: {random: uniform, shape: [1001], seed: 0}}
    function: sum(x**2)
    checks: [{hessian: f}, {gradient: f}]
""")
    hess, grad = res.checks
    assert hess.status == "error" and "1,002,001 entries (limit 1,000,000)" in hess.message
    assert grad.status == "passed"

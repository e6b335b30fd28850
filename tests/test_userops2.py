"""A second corpus of users' custom autograd code (tests/userops2/functions.py): each correct one
passes at the defaults (the paths torch cannot run, or runs wrongly without an error, are
``unsupported`` with the reason), and the same code with a wrong derivative fails."""

from __future__ import annotations

import pytest
import torch

import verifier
from tests.userops2 import functions as U

X64 = torch.tensor([0.7, -1.3, 2.1], dtype=torch.float64)
DTYPES = [torch.float64, torch.float32]

# name: (builder, formula, inputs, checks)
CASES = {
    "custom_op": (U.custom_op, "sum(x**3)", {"x": X64}, None),
    "once_wrapped": (U.once_wrapped, "sum(x**3)", {"x": X64}, None),
    "mark_dirty_old": (U.mark_dirty, "sum((2*x)**2)", {"x": X64}, None),
    "mark_dirty_new": (lambda bug=1.0: U.mark_dirty(bug, new_style=True), "sum((2*x)**2)", {"x": X64}, None),
    "sin_cos": (U.sin_cos, "sum(sin(x)*cos(x))", {"x": X64}, None),
    "sin_only": (U.sin_only, "sum(sin(x))", {"x": X64}, None),
    "sorted_weights": (U.sorted_weights, "x[1] + 2*x[0] + 3*x[2]", {"x": X64}, ["value", "gradient"]),
    "scaled": (U.scaled, "sum((2.5*x)**2)", {"x": X64}, None),
    "product": (U.product, "sum(tanh(a*b))", {"a": X64, "b": torch.tensor([2.0, 0.5, -0.25], dtype=torch.float64)},
                ["value", "gradient", "hessian", {"gradient": "f", "wrt": "b"}]),
    "nested": (U.nested, "sum(x**2)", {"x": X64}, None),
    "numpy_backward": (U.numpy_backward, "sum(exp(x))", {"x": X64}, ["value", "gradient"]),
}


def _inputs(inputs, dtype):
    return {k: v.to(dtype) for k, v in inputs.items()}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", list(CASES))
def test_correct_function_passes(name, dtype):
    build, formula, inputs, checks = CASES[name]
    report = verifier.check(build(), formula, _inputs(inputs, dtype), checks=checks)
    assert report.passed, report.report()
    for c in report.checks:  # a path that did not run says why
        for mode, r in c.modes.items():
            assert r.status in ("passed", "unsupported"), (c.name, mode, r.status, r.error)
            assert r.status == "passed" or r.error


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", list(CASES))
def test_the_same_function_with_a_one_percent_bug_fails(name, dtype):
    build, formula, inputs, checks = CASES[name]
    with pytest.raises(verifier.MismatchError, match="elements differ"):
        verifier.assert_derivatives(build(1.01), formula, _inputs(inputs, dtype), checks=checks)


def test_custom_op_forward_mode_is_unsupported_not_a_false_alarm():
    """torch.library.custom_op + register_autograd: torch's jacfwd returns zeros without an error."""
    fn = U.custom_op()
    assert torch.func.jacfwd(fn)(X64).abs().sum().item() == 0.0  # torch's silent zeros (the reason)
    report = verifier.check(fn, "sum(x**3)", {"x": X64}, checks=["gradient", "hessian",
                                                                  {"hvp": "f", "vector": [1, 0, 2]}])
    assert report.passed, report.report()
    for c in report.checks:
        for mode in ("jacfwd", "hessian_fwdrev"):
            if mode in c.modes:
                r = c.modes[mode]
                assert r.status == "unsupported" and "custom op verifier_userops2::cube" in r.error, (c.name, r)
        assert c.modes["backward"].status == "passed"


def test_once_differentiable_under_another_decorator_is_recognised():
    fn = U.once_wrapped()
    report = verifier.check(fn, "sum(x**3)", {"x": X64})
    assert [c.status for c in report.checks] == ["passed", "passed", "skipped"], report.report()
    assert "once_differentiable" in report.report()
    with pytest.raises(verifier.CheckError, match="no torch path could run"):
        verifier.assert_derivatives(fn, "sum(x**3)", {"x": X64}, checks=["hessian"])


def test_a_backward_without_a_graph_fails_the_hessian_with_a_hint():
    """A numpy backward: torch's second derivatives are zeros. Not a pass, and the message says why."""
    report = verifier.check(U.numpy_backward(), "sum(exp(x))", {"x": X64}, checks=["gradient", "hessian"])
    assert [c.status for c in report.checks] == ["passed", "failed"]
    assert "builds no autograd graph" in report.checks[1].message


def test_a_backward_written_with_torch_ops_through_another_function_has_its_hessian_checked():
    report = verifier.check(U.nested(), "sum(x**2)", {"x": X64}, checks=["hessian"])
    assert report.checks[0].modes["backward"].status == "passed" and report.passed
    wrong = verifier.check(U.nested(1.01), "sum(x**2)", {"x": X64}, checks=["hessian"])
    assert wrong.checks[0].status == "failed"  # the bug is in the inner Function's backward only


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_function_inside_a_module_with_parameters(dtype):
    net = U.CubeNet(dtype)
    assert verifier.check(net, U.CUBENET_FORMULA, {"x": X64.to(dtype)}).passed
    U.Cube.bug = 1.01
    try:
        with pytest.raises(verifier.MismatchError):
            verifier.assert_derivatives(net, U.CUBENET_FORMULA, {"x": X64.to(dtype)}, checks=["gradient"])
    finally:
        U.Cube.bug = 1.0


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", list(U.EDGES))
def test_edge_points_pass_when_right_and_fail_when_wrong(name, dtype):
    forward, derivative, formula, points = U.EDGES[name]
    x = torch.tensor(points, dtype=dtype)
    report = verifier.check(U.elementwise(forward, derivative), formula, {"x": x})
    assert report.passed, report.report()
    with pytest.raises(verifier.MismatchError):
        verifier.assert_derivatives(U.elementwise(forward, derivative, bug=1.01), formula, {"x": x},
                                    checks=["gradient"])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_one_percent_bug_on_a_small_entry_fails(dtype):
    x = torch.tensor([0.5, 1.0, 2.0], dtype=dtype)
    assert verifier.check(U.small_cube(), "sum(3e-6*x**3)", {"x": x}, checks="gradient").passed
    r = verifier.check(U.small_cube(1.01), "sum(3e-6*x**3)", {"x": x}, checks="gradient")
    assert r.checks[0].status == "failed", r.report()
    assert "[0]" in r.report() and "1 / 3 elements differ" in r.report()


def test_a_custom_op_from_a_problem_file_lists_only_the_paths_that_ran(capsys, monkeypatch):
    """``verifier run -v`` on ``implementation:`` a custom op: the bracket names the paths that ran;
    jacrev/jacfwd are named on their own lines as not run, with the reason (they were listed as run)."""
    from pathlib import Path

    from verifier.cli import main

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    assert main(["run", "--allow-import", "-v", "tests/userops2/custom_op.problems.yaml"]) == 0
    out = capsys.readouterr().out
    assert "PASS    gradient[f]  [backward, functional]\n" in out
    assert "jacfwd: not run (unsupported): forward-mode AD through the custom op" in out
    assert "2 problems, 6 checks: 6 passed, 0 failed" in out
    U.STATE["bug"] = 1.01
    try:
        report = verifier.check(lambda x: U.cube_op(x).sum(), "sum(x**3)", {"x": X64}, checks="gradient")
    finally:
        U.STATE["bug"] = 1.0
    assert report.checks[0].status == "failed"  # the same op with a wrong backward fails


def test_a_float32_computation_inside_a_float64_check_fails_with_a_hint():
    x = torch.tensor([0.7, 1.3], dtype=torch.float64)
    r = verifier.check(lambda x: (x.float() ** 3).sum(), "sum(x**3)", {"x": x}, checks=["value", "gradient"])
    assert [c.status for c in r.checks] == ["failed", "failed"]
    assert all("fn returned torch.float32 for float64 inputs" in c.message for c in r.checks)
    assert verifier.check(lambda x: (x.float() ** 3).sum(), "sum(x**3)", {"x": x.float()}).passed
    assert verifier.check(lambda x: (x.float() ** 3).sum(), "sum(x**3)", {"x": x}, dtype="float32").passed


def test_a_backward_that_raises_fails_the_check_and_is_not_a_crash():
    class Boom(torch.autograd.Function):
        @staticmethod
        def forward(x):
            return x**2

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            raise ValueError("a bug in the user's backward")

    r = verifier.check(lambda x: Boom.apply(x).sum(), "sum(x**2)", {"x": X64}, checks=["gradient", "hessian"])
    for c in r.checks:  # a broken rule is a wrong derivative (see test_broken_rules.py), not "could not run"
        assert c.status == "failed", r.report()
        assert any("Boom.backward raised ValueError: a bug in the user's backward" in (m.error or "")
                   for m in c.modes.values())

"""A user's derivative rule that raises on some path fails the check; torch refusing does not.

The fault (redteam2 O2): a Function whose ``jvp`` raised (``ctx.saved_tensors`` empty because
``setup_context`` never called ``save_for_forward``) had that path reported as ``error`` and the
check ``passed`` on the other paths, so ``assert_derivatives`` raised nothing for broken code.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import verifier
from verifier import MismatchError

X = torch.tensor([0.5, 2.0], dtype=torch.float64)


def square(*, jvp=None, backward=None, vmap=None, save_for_forward=True, total=True):
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        if save_for_forward:
            ctx.save_for_forward(inputs[0])

    def default_backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g

    def default_jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return 2 * x * t

    body = {"forward": staticmethod(lambda x: x * x), "setup_context": staticmethod(setup_context),
            "backward": staticmethod(backward or default_backward),
            "jvp": staticmethod(jvp or default_jvp)}
    if vmap is None:
        body["generate_vmap_rule"] = True
    cls = type("Square", (torch.autograd.Function,), body)
    if vmap is not None:
        cls.vmap = staticmethod(vmap)
    return (lambda x: cls.apply(x).sum()) if total else cls.apply


def test_a_jvp_that_raises_fails_and_names_the_rule_and_line():
    fn = square(save_for_forward=False)  # jvp's `(x,) = ctx.saved_tensors` unpacks nothing
    report = verifier.check(fn, "sum(x**2)", {"x": X}, checks=["gradient", "hessian"])
    for check, paths in zip(report.checks, ({"jacfwd"}, {"hessian_fwdrev"})):  # the paths using jvp
        assert check.status == "failed"
        broken = {m: r.error for m, r in check.modes.items() if r.status == "failed"}
        assert set(broken) == paths, check.modes
        assert all(e.startswith("Square.jvp raised ValueError: not enough values to unpack")
                   for e in broken.values())
        assert all("test_broken_rules.py:" in e for e in broken.values())
        assert all(r.status == "passed" for m, r in check.modes.items() if m in ("backward", "jacrev"))
    assert "Square.jvp raised ValueError" in report.report()
    with pytest.raises(MismatchError, match="Square.jvp raised ValueError"):
        verifier.assert_derivatives(fn, "sum(x**2)", {"x": X}, checks=["hessian"])


def test_the_same_function_with_save_for_forward_passes():
    # The control: nothing but the missing save_for_forward differs.
    report = verifier.check(square(), "sum(x**2)", {"x": X}, checks=["gradient", "hessian"])
    assert report.passed, report.report()


def test_a_backward_that_raises_a_python_error_fails_every_reverse_path():
    def backward(ctx, g):
        x = ctx.saved_tensors[1]  # IndexError: one tensor was saved
        return 2 * x * g

    report = verifier.check(square(backward=backward), "sum(x**2)", {"x": X}, checks=["gradient"])
    (grad,) = report.checks
    assert grad.status == "failed"
    assert {m for m, r in grad.modes.items() if r.status == "failed"} >= {"backward", "functional", "jacrev"}
    assert all("Square.backward raised IndexError" in r.error for r in grad.modes.values() if r.status == "failed")


def test_a_rule_that_declines_or_torch_refusing_it_is_not_a_failure():
    def declines(ctx, t):
        raise NotImplementedError("no forward mode here")

    report = verifier.check(square(jvp=declines), "sum(x**2)", {"x": X}, checks=["hessian"])
    assert report.passed, report.report()
    assert report.checks[0].modes["hessian_fwdrev"].status == "unsupported"

    class NumpyCube(torch.autograd.Function):  # first order only: a RuntimeError when differentiated twice
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return torch.from_numpy(3 * x.numpy() ** 2) * g

    report = verifier.check(lambda x: NumpyCube.apply(x).sum(), "sum(x**3)", {"x": X})
    assert not report.mismatched, report.report()
    (grad,) = [c for c in report.checks if c.kind == "gradient"]
    assert grad.modes["backward"].status == "passed" and np.allclose(grad.reference, 3 * X.numpy() ** 2)

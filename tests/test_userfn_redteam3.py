"""Users' own torch code that a red team wrote (round 3): correct code passes, broken code fails.

Each case names its kind: a derivative rule torch rejects, a custom op only the backward calls,
how fn's arguments are bound, constants as given, checkpointing, output shapes, hints.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.checkpoint import checkpoint

import verifier
from verifier import MismatchError, ProblemSpecError

X = torch.tensor([0.5, 1.3, -2.0], dtype=torch.float64)
W = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64)


def linear(transpose: bool):
    class Linear(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x, w):
            return w @ x

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)
            ctx.save_for_forward(*inputs)

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            return (w.T @ g if transpose else w @ g), None  # the bug: w @ g has the wrong shape

        @staticmethod
        def jvp(ctx, tx, tw):
            x, w = ctx.saved_tensors
            return w @ tx

    return lambda x: torch.tanh(Linear.apply(x, W)).sum()


def test_a_backward_torch_cannot_run_fails_even_when_the_jvp_path_passes():
    fn = linear(transpose=False)
    r = verifier.check(fn, "sum(tanh(W @ x))", {"x": X}, constants={"W": W}, checks="gradient")
    modes = r.checks[0].modes
    assert r.checks[0].status == "failed" and modes["jacfwd"].status == "passed", r.report()
    assert {m for m, v in modes.items() if v.status == "failed"} >= {"backward", "functional"}
    assert "Linear.backward raised RuntimeError" in modes["backward"].error
    with pytest.raises(MismatchError):
        verifier.assert_derivatives(fn, "sum(tanh(W @ x))", {"x": X}, constants={"W": W}, checks="gradient")
    good = verifier.check(linear(transpose=True), "sum(tanh(W @ x))", {"x": X}, constants={"W": W},
                          checks="gradient")
    assert good.passed, good.report()


def _short(ctx, g):
    return (g * torch.cos(ctx.saved_tensors[0]))[:2]  # a gradient of the wrong shape


def _three(ctx, g):
    return g * torch.cos(ctx.saved_tensors[0]), g, g  # three gradients for one input


def _number(ctx, g):
    return 1.0  # not a tensor


@pytest.mark.parametrize("backward, said", [(_short, "Function SBackward returned an invalid gradient"),
                                            (_three, "returned an incorrect number of gradients"),
                                            (_number, "expected Variable or None")])
def test_torch_rejecting_what_a_backward_returned_fails(backward, said):
    body = {"forward": staticmethod(lambda a: torch.sin(a)),
            "setup_context": staticmethod(lambda ctx, i, o: ctx.save_for_backward(i[0])),
            "backward": staticmethod(backward)}
    S = type("S", (torch.autograd.Function,), body)
    r = verifier.check(lambda x: S.apply(x).sum(), "sum(sin(x))", {"x": X}, checks="gradient")
    assert r.checks[0].status == "failed", r.report()
    error = r.checks[0].modes["backward"].error
    assert "torch rejected what a derivative rule returned" in error and said in error


def sin_with_jvp(jvp, vmap_rule: bool = False):
    """A correct sin Function with the given ``jvp(ctx, t, cos_a)`` and, optionally, a vmap rule."""
    class S(torch.autograd.Function):
        generate_vmap_rule = vmap_rule

        @staticmethod
        def forward(a):
            return torch.sin(a)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.save_for_forward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            return g * torch.cos(ctx.saved_tensors[0])

        @staticmethod
        def jvp(ctx, t):
            return jvp(t, torch.cos(ctx.saved_tensors[0]))

    return S


def test_a_jvp_of_the_wrong_shape_fails_the_forward_path():
    S = sin_with_jvp(lambda t, c: (t * c).sum(), vmap_rule=True)  # a scalar for a vector
    r = verifier.check(lambda x: S.apply(x).sum(), "sum(sin(x))", {"x": X}, checks="gradient")
    assert r.checks[0].status == "failed" and r.checks[0].modes["jacfwd"].status == "failed", r.report()


@torch.library.custom_op("verifier_tests::mycos", mutates_args=())
def mycos(a: torch.Tensor) -> torch.Tensor:
    return torch.cos(a)


@mycos.register_fake
def _(a):
    return torch.empty_like(a)


mycos.register_autograd(lambda ctx, g: -g * torch.sin(ctx.saved_tensors[0]),
                        setup_context=lambda ctx, inputs, output: ctx.save_for_backward(inputs[0]))


class SinByOp(torch.autograd.Function):  # correct; its backward and jvp call the custom op
    generate_vmap_rule = True

    @staticmethod
    def forward(a):
        return torch.sin(a)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        return g * mycos(ctx.saved_tensors[0])

    @staticmethod
    def jvp(ctx, t):
        return t * mycos(ctx.saved_tensors[0])


def test_a_custom_op_called_only_by_a_backward_is_seen_and_its_forward_paths_not_run():
    # torch.func.hessian gives zeros through the op (no forward rule): a false alarm before.
    assert torch.func.hessian(lambda x: SinByOp.apply(x).sum())(X).abs().sum() == 0
    r = verifier.check(lambda x: SinByOp.apply(x).sum(), "sum(sin(x))", {"x": X}, checks="hessian")
    modes = r.checks[0].modes
    assert r.passed, r.report()
    fwdrev = modes["hessian_fwdrev"]
    assert fwdrev.status == "unsupported" and "verifier_tests::mycos" in fwdrev.error
    assert modes["backward"].status == "passed"


def test_names_that_match_bind_by_name_and_the_rest_fill_the_other_parameters():
    y = torch.tensor([1.5, -0.3, 2.0], dtype=torch.float64)
    r = verifier.check(lambda b, x: (torch.sin(x) * b).sum(), "sum(sin(x)*y)", {"x": X, "y": y},
                       checks=["value", "gradient"])
    assert r.passed, r.report()
    r = verifier.check(lambda c, a: (c * a**2).sum(), "sum(c*x**2)", {"x": X}, constants={"c": 3.0})
    assert r.passed, r.report()
    wrong = verifier.check(lambda b, x: (torch.sin(b) * x).sum(), "sum(sin(x)*y)", {"x": X, "y": y},
                           checks="value")
    assert not wrong.passed


def test_a_python_int_constant_reaches_fn_as_an_int():
    seen = []

    def fn(x, n):
        seen.append(type(n))
        return (x.repeat(n) ** 2).sum()

    r = verifier.check(fn, "n*sum(x**2)", {"x": X}, constants={"n": 2}, checks="gradient")
    assert r.passed, r.report()
    assert set(seen) == {int}


@pytest.mark.filterwarnings("ignore:None of the inputs have requires_grad")  # torch's, for the value path
def test_reentrant_checkpointing_is_skipped_where_torch_refuses_it():
    fn = lambda x: checkpoint(lambda t: torch.sin(t).sum(), x, use_reentrant=True)  # noqa: E731
    r = verifier.check(fn, "sum(sin(x))", {"x": X})
    assert r.passed, r.report()
    assert [c.status for c in r.checks] == ["passed", "passed", "skipped"]


@pytest.mark.parametrize("reshaped", [lambda a: torch.sin(a).reshape(3, 2), lambda a: torch.sin(a).flatten(),
                                      lambda a: torch.sin(a)[None]])
def test_an_output_of_the_wrong_shape_fails_the_value_check(reshaped):
    A = W.clone()
    r = verifier.check(reshaped, "sin(A)", {"A": A}, checks=["value", "jacobian"])
    assert r.checks[0].status == "failed" and "fn returned shape" in r.checks[0].message, r.report()
    assert verifier.check(lambda a: torch.sin(a), "sin(A)", {"A": A}, checks=["value", "jacobian"]).passed


def test_the_method_call_hint_for_reshape_is_valid_as_written():
    x = torch.tensor([[0.3, -1.2, 2.5], [10.0, 10.5, 9.25]], dtype=torch.float64)
    fn = lambda x: (x - x.mean(1, keepdim=True)).pow(2).sum()  # noqa: E731
    with pytest.raises(ProblemSpecError, match=r"write reshape\(mean\(x, axis=1\), \[2, 1\]\)"):
        verifier.check(fn, "sum((x - mean(x, axis=1).reshape(2, 1))**2)", {"x": x})
    assert verifier.check(fn, "sum((x - reshape(mean(x, axis=1), [2, 1]))**2)", {"x": x}).passed


@pytest.mark.parametrize("kind, fn", [("gradient", lambda S: lambda x: S.apply(x).sum()),
                                      ("jacobian", lambda S: lambda x: S.apply(x))])
def test_a_jvp_without_a_vmap_rule_is_still_checked_one_column_at_a_time(kind, fn):
    formula = "sum(sin(x))" if kind == "gradient" else "sin(x)"
    good = verifier.check(fn(sin_with_jvp(lambda t, c: t * c)), formula, {"x": X}, checks=kind)
    assert good.passed and good.checks[0].modes["jacfwd"].status == "passed", good.report()
    bad = verifier.check(fn(sin_with_jvp(lambda t, c: 2 * t * c)), formula, {"x": X}, checks=kind)
    modes = bad.checks[0].modes
    assert modes["jacfwd"].status == "failed" and modes["backward"].status == "passed", bad.report()


def test_a_backward_that_ignores_its_incoming_gradient_fails_even_after_sum():
    # The most common bug: `return 3 * x**2` without `g *`. After .sum() the incoming gradient is
    # 1, so it was right on every path; the backward path now uses the cotangent -1.
    def cube(forgets_g: bool):
        class Cube(torch.autograd.Function):
            @staticmethod
            def forward(x):
                return x**3

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(inputs[0])

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 3 * x**2 if forgets_g else g * 3 * x**2

        return lambda x: Cube.apply(x).sum()

    bad = verifier.check(cube(True), "sum(x**3)", {"x": X}, checks=["gradient", "hessian"])
    for c in bad.checks:
        assert c.status == "failed" and c.modes["backward"].status == "failed", bad.report()
        assert c.modes["functional"].status == "passed"  # the cotangent 1 cannot see it
    good = verifier.check(cube(False), "sum(x**3)", {"x": X}, checks=["gradient", "hessian"])
    assert good.passed, good.report()


def test_once_differentiable_under_a_decorator_without_wraps_is_still_recognised():
    from torch.autograd.function import once_differentiable

    def logged(fn):  # a user's decorator without functools.wraps
        def inner(*a):
            return fn(*a)
        return inner

    class Exp(torch.autograd.Function):
        @staticmethod
        def forward(a):
            return torch.exp(a)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(output)

        @staticmethod
        @logged
        @once_differentiable
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    r = verifier.check(lambda x: Exp.apply(x).sum(), "sum(exp(x))", {"x": X})
    assert [c.status for c in r.checks] == ["passed", "passed", "skipped"], r.report()
    assert "once_differentiable" in r.checks[2].message or "once_differentiable" in r.report()

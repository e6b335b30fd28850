"""verifier.check / assert_derivatives on a user's own torch code: every Function style torch
documents, the paths torch cannot run, how fn is called, dtypes, and the errors users see."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.autograd.function import once_differentiable

import verifier

X64 = torch.tensor([0.7, -1.3, 2.1], dtype=torch.float64)
X32 = X64.to(torch.float32)
STYLES = ("old-ctx", "old-once", "setup", "setup-jvp", "vmap-rule", "vmap-static", "plain")


def cubic(style: str, factor: float = 1.0):
    """y = x**3 elementwise, its derivative 3 x**2 * factor, written in one of torch's styles."""
    def d(x):
        return 3 * x**2 * factor

    if style == "plain":  # the value is x**3 exactly; the straight-through term carries the bug
        return lambda x: x**3 + (x - x.detach()) * (d(x) - 3 * x**2)
    if style in ("old-ctx", "old-once"):
        def fwd(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        def bwd(ctx, g):
            (x,) = ctx.saved_tensors
            return g * d(x)
        body = {"forward": staticmethod(fwd),
                "backward": staticmethod(once_differentiable(bwd) if style == "old-once" else bwd)}
        return type("Cubed", (torch.autograd.Function,), body).apply

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    body = {"forward": staticmethod(lambda x: x**3), "setup_context": staticmethod(setup_context),
            "backward": staticmethod(lambda ctx, g: g * d(ctx.saved_tensors[0]))}
    if style == "setup-jvp":
        body["generate_vmap_rule"] = True
        body["jvp"] = staticmethod(lambda ctx, t: t * d(ctx.saved_tensors[0]))
    if style == "vmap-rule":
        body["generate_vmap_rule"] = True
    cls = type("Cubed", (torch.autograd.Function,), body)
    if style == "vmap-static":
        cls.vmap = staticmethod(lambda info, in_dims, x: (cls.apply(x), in_dims[0]))
    return cls.apply


# ---- every documented style passes at the defaults, and is caught when wrong --------------------

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("style", STYLES)
def test_a_correct_function_in_every_style_passes_at_the_defaults(style, dtype):
    F = cubic(style)
    report = verifier.check(lambda x: F(x).sum(), "sum(x**3)", {"x": X64.to(dtype)})
    assert report.passed, report.report()
    verifier.assert_derivatives(lambda x: F(x).sum(), "sum(x**3)", {"x": X64.to(dtype)})
    for c in report.checks:  # every path is accounted for: it ran, or it says why not
        for mode, r in c.modes.items():
            assert r.status in ("passed", "unsupported"), (mode, r.status, r.error)
            assert r.status == "passed" or r.error


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("style", STYLES)
def test_a_wrong_derivative_in_every_style_raises_mismatch(style, dtype):
    F = cubic(style, factor=1 + 1e-3)
    with pytest.raises(verifier.MismatchError, match="elements differ"):
        verifier.assert_derivatives(lambda x: F(x).sum(), "sum(x**3)", {"x": X64.to(dtype)})


def test_old_style_paths_are_unsupported_with_torchs_reason():
    F = cubic("old-ctx")
    report = verifier.check(lambda x: F(x).sum(), "sum(x**3)", {"x": X64}, checks="gradient")
    modes = report.checks[0].modes
    assert modes["backward"].status == modes["functional"].status == "passed"
    for m in ("jacrev", "jacfwd"):
        assert modes[m].status == "unsupported"
        assert "setup_context" in modes[m].error  # torch's words
    assert "jacfwd: not run (unsupported)" in report.report()


def test_no_vmap_rule_and_no_jvp_are_unsupported_with_the_reason():
    report = verifier.check(lambda x: cubic("setup")(x).sum(), "sum(x**3)", {"x": X64}, checks=["hessian"])
    modes = report.checks[0].modes
    assert report.checks[0].status == "passed"
    assert modes["jacrev"].status == "passed"
    assert modes["hessian_fwdrev"].status == "unsupported" and "vmap" in modes["hessian_fwdrev"].error
    report = verifier.check(lambda x: cubic("vmap-rule")(x).sum(), "sum(x**3)", {"x": X64}, checks=["gradient"])
    jacfwd = report.checks[0].modes["jacfwd"]
    assert jacfwd.status == "unsupported" and "jvp" in jacfwd.error


# ---- r1: forward-over-forward through a Function returns zeros silently -----------------------

class Sq(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return 2 * x * t


def test_r1_a_correct_jvp_function_passes_the_hessian_and_jacfwd_is_unsupported():
    x = torch.tensor([3.0], dtype=torch.float64)
    r = verifier.check(lambda x: Sq.apply(x).sum(), "sum(x**2)", {"x": x}, checks=["hessian"])
    assert r.passed, r.report()
    modes = r.checks[0].modes
    assert modes["jacfwd"].status == "unsupported"
    assert "forward-over-forward" in modes["jacfwd"].error and "Sq" in modes["jacfwd"].error
    assert {m: v.status for m, v in modes.items() if m != "jacfwd"} == dict.fromkeys(
        ["backward", "functional", "jacrev", "hessian_fwdrev"], "passed")
    # what torch itself gives on that path: the reason it is not run
    assert torch.func.jacfwd(torch.func.jacfwd(lambda x: Sq.apply(x).sum()))(x).item() == 0.0


def test_forward_over_reverse_hvp_still_runs_through_a_jvp_function():
    x = torch.tensor([3.0, -1.0], dtype=torch.float64)
    r = verifier.check(lambda x: Sq.apply(x).sum(), "sum(x**2)", {"x": x},
                       checks=[{"hvp": "f", "vector": [1, 2]}])
    assert r.checks[0].modes["jacfwd"].status == "passed", r.report()


def test_plain_torch_code_keeps_forward_over_forward():
    r = verifier.check(lambda x: (x**3).sum(), "sum(x**3)", {"x": X64}, checks=["hessian"])
    assert r.checks[0].modes["jacfwd"].status == "passed"


# ---- once_differentiable: no second derivative through it --------------------------------------

def test_once_differentiable_hessian_is_skipped_at_defaults_and_an_error_when_asked_for():
    F = cubic("old-once")
    fn = lambda x: F(x).sum()  # noqa: E731
    report = verifier.check(fn, "sum(x**3)", {"x": X64})
    assert [c.status for c in report.checks] == ["passed", "passed", "skipped"]
    assert "once_differentiable" in report.report()
    explicit = verifier.check(fn, "sum(x**3)", {"x": X64}, checks=["gradient", "hessian"])
    assert [c.status for c in explicit.checks] == ["passed", "error"]
    assert all(m.status == "unsupported" for m in explicit.checks[1].modes.values())
    with pytest.raises(verifier.CheckError, match="no torch path could run") as info:
        verifier.assert_derivatives(fn, "sum(x**3)", {"x": X64}, checks=["gradient", "hessian"])
    assert not isinstance(info.value, AssertionError)


def test_once_differentiable_with_a_wrong_gradient_is_still_a_mismatch():
    F = cubic("old-once", factor=1.01)
    with pytest.raises(verifier.MismatchError):
        verifier.assert_derivatives(lambda x: F(x).sum(), "sum(x**3)", {"x": X64})


def test_no_path_able_to_run_is_an_error_not_a_failure():
    F = cubic("old-ctx")
    r = verifier.check(lambda x: F(x).sum(), "sum(x**3)", {"x": X64}, checks=["gradient"], modes=["jacrev"])
    assert r.checks[0].status == "error" and "no torch path could run" in r.checks[0].message
    with pytest.raises(verifier.CheckError):
        verifier.assert_derivatives(lambda x: F(x).sum(), "sum(x**3)", {"x": X64}, checks=["gradient"],
                                    modes=["jacrev"])


# ---- r3: the README's Cube -------------------------------------------------------------------

class Cube(torch.autograd.Function):
    bug = 1.0

    @staticmethod
    def forward(x):
        return x**3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2 * Cube.bug


def test_r3_the_readme_cube_without_its_bug_raises_nothing():
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    Cube.bug = 1.0
    report = verifier.assert_derivatives(lambda x: Cube.apply(x).sum(), "sum(x**3)", {"x": x},
                                         checks=["gradient", "hessian"])
    assert report.passed
    Cube.bug = 1 + 1e-6
    try:
        with pytest.raises(verifier.MismatchError):
            verifier.assert_derivatives(lambda x: Cube.apply(x).sum(), "sum(x**3)", {"x": x},
                                        checks=["gradient", "hessian"])
    finally:
        Cube.bug = 1.0


# ---- r7: checks as one string ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["gradient", "hessian", "value"])
def test_r7_checks_as_a_string_is_one_check_kind(kind):
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    r = verifier.check(lambda x: (x**3).sum(), "sum(x**3)", {"x": x}, checks=kind)
    assert [c.kind for c in r.checks] == [kind] and r.passed
    wrong = verifier.check(lambda x: (x**3).sum() + 0.01 * (x**2).sum(), "sum(x**3)", {"x": x}, checks=kind)
    assert wrong.checks[0].status == "failed"


def test_one_check_mapping_alone_is_one_check():
    r = verifier.check(lambda x: (x**3).sum(), "sum(x**3)", {"x": X64}, checks={"hvp": "f", "vector": [1, 0, 1]})
    assert [c.kind for c in r.checks] == ["hvp"] and r.passed


# ---- r8: each input keeps its dtype ------------------------------------------------------------

def test_r8_a_float32_input_next_to_a_float64_one_keeps_its_dtype():
    seen = {}

    def fn(x, y):
        seen.update(x=x.dtype, y=y.dtype)
        return (x * y).sum()

    r = verifier.check(fn, "sum(x*y)", {"x": torch.tensor([1.0, 2.0]),
                                         "y": torch.tensor([3.0, 4.0], dtype=torch.float64)}, checks=["gradient"])
    assert r.passed, r.report()
    assert seen == {"x": torch.float32, "y": torch.float64}
    assert r.checks[0].modes["backward"].comparison.rtol == 1.3e-6  # judged at float32, the dtype used


def test_mixed_dtypes_keep_the_float64_values_exact():
    # y is not representable in float32: rounding it would change the reference's point
    y = torch.tensor([0.1, 1 / 3], dtype=torch.float64)
    seen = {}

    def fn(x, y):
        seen["y"] = y.clone()
        return (x * y**2).sum()

    r = verifier.check(fn, "sum(x*y**2)", {"x": torch.tensor([1.5, 2.5]), "y": y})
    assert r.passed, r.report()
    assert torch.equal(seen["y"], y)


def test_a_float32_constant_reaches_fn_as_float32():
    seen = {}

    def fn(x, c):
        seen["c"] = c.dtype
        return (c * x**2).sum()

    c = torch.tensor([1.5, 3.0])
    r = verifier.check(fn, "sum(c*x**2)", {"x": torch.tensor([1.0, -1.0], dtype=torch.float64)},
                       constants={"c": c}, checks="gradient")
    assert r.passed, r.report()
    assert seen["c"] == torch.float32


def test_all_float32_inputs_run_in_float32():
    seen = []
    r = verifier.check(lambda x: (seen.append(x.dtype), (x**3).sum())[1], "sum(x**3)", {"x": X32})
    assert r.passed and set(seen) == {torch.float32}


# ---- how fn is called: keywords, positions, constants ------------------------------------------

def test_fn_may_take_its_arguments_positionally_under_other_names():
    r = verifier.check(lambda a, b: (a * b**2).sum(), "sum(x*y**2)", {"x": X64, "y": X64 + 1})
    assert r.passed, r.report()
    wrong = verifier.check(lambda a, b: (b * a**2).sum(), "sum(x*y**2)", {"x": X64, "y": X64 + 1})
    assert not wrong.passed  # positional means in the inputs' order, not swapped


def test_fn_by_keyword_in_any_order_and_keyword_only():
    def fn(*, y, x):
        return (x * y**2).sum()

    assert verifier.check(fn, "sum(x*y**2)", {"x": X64, "y": X64 + 1}).passed
    assert verifier.check(lambda y, x: (x * y**2).sum(), "sum(x*y**2)", {"x": X64, "y": X64 + 1}).passed
    assert verifier.check(lambda **kw: (kw["x"] * kw["y"] ** 2).sum(), "sum(x*y**2)",
                          {"x": X64, "y": X64 + 1}).passed


@pytest.mark.parametrize("fn", [
    lambda x, c: (c * x**2).sum(),        # by name
    lambda a, k: (k * a**2).sum(),        # positionally, after the inputs
    lambda x, *, c: (c * x**2).sum(),     # keyword-only
])
def test_constants_reach_fn(fn):
    c = torch.tensor([2.0, 3.0, 5.0], dtype=torch.float64)
    r = verifier.check(fn, "sum(c*x**2)", {"x": X64}, constants={"c": c})
    assert r.passed, r.report()
    other = verifier.check(fn, "sum(c*x**2)", {"x": X64}, constants={"c": c + 1})
    assert other.passed  # fn sees the new constant too (it is not baked in)
    bad = verifier.check(lambda x, c: (2 * x**2).sum(), "sum(c*x**2)", {"x": X64}, constants={"c": c})
    assert not bad.passed


def test_a_bare_kwargs_wrapper_gets_the_inputs_and_binds_constants_itself():
    c = torch.tensor([2.0, 3.0, 5.0], dtype=torch.float64)

    def impl(x, c):
        return (c * x**2).sum()

    def wrapper(**inputs):  # what `implementation:` with constants does: no constant passed twice
        return impl(**inputs, c=c)

    assert verifier.check(wrapper, "sum(c*x**2)", {"x": X64}, constants={"c": c}).passed


def test_a_closure_needs_no_constant_argument():
    c = torch.tensor([2.0, 3.0, 5.0], dtype=torch.float64)
    assert verifier.check(lambda x: (c * x**2).sum(), "sum(c*x**2)", {"x": X64}, constants={"c": c}).passed


def test_fn_that_cannot_take_the_inputs_is_a_check_error():
    with pytest.raises(verifier.CheckError, match="takes 1 positional argument"):
        verifier.check(lambda a: a.sum(), "sum(x*y)", {"x": X64, "y": X64})


# ---- clear messages ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["gradient", "hessian", {"hvp": "f", "vector": [1, 0, 0]}])
def test_a_forgotten_sum_is_one_clear_message(kind):
    r = verifier.check(lambda x: x**3, "sum(x**3)", {"x": X64}, checks=[kind])
    c = r.checks[0]
    assert c.status == "error" and not c.modes  # no path ran: one message, not one per path
    assert ".sum()" in c.message and "(3,)" in c.message
    assert r.report().count(".sum()") == 1
    with pytest.raises(verifier.CheckError, match=r"forget \.sum\(\)"):
        verifier.assert_derivatives(lambda x: x**3, "sum(x**3)", {"x": X64}, checks=[kind])


def test_a_vector_output_is_fine_for_a_jacobian():
    assert verifier.check(lambda x: x**3, "x**3", {"x": X64}, checks=["value", "jacobian"]).passed


@pytest.mark.parametrize("value", [
    torch.tensor([1.0 + 2j, 3.0]), np.array([1.0 + 0j, 2.0]), torch.tensor([1.0], dtype=torch.complex64)])
def test_complex_inputs_are_refused(value):
    with pytest.raises(verifier.CheckError, match="complex"):
        verifier.check(lambda x: (x**2).sum(), "sum(x**2)", {"x": value})


@pytest.mark.parametrize("value", [torch.tensor([1.0], dtype=torch.float16),
                                   torch.tensor([1.0], dtype=torch.bfloat16), np.array([1.0], dtype=np.float16)])
def test_half_precision_inputs_are_refused_not_silently_widened(value):
    with pytest.raises(verifier.CheckError, match="float32 and float64"):
        verifier.check(lambda x: (x**2).sum(), "sum(x**2)", {"x": value})


def test_numpy_float32_inputs_keep_float32():
    seen = []
    r = verifier.check(lambda x: (seen.append(x.dtype), (x**2).sum())[1], "sum(x**2)",
                       {"x": np.array([1.0, 2.0], dtype=np.float32)}, checks="gradient")
    assert r.passed and set(seen) == {torch.float32}


def test_a_complex_constant_is_refused_too():
    with pytest.raises(verifier.CheckError, match="'c' is complex"):
        verifier.check(lambda x: (x**2).sum(), "sum(x**2)", {"x": X64}, constants={"c": torch.tensor([1j])})


def test_a_complex_output_is_refused():
    r = verifier.check(lambda x: (x * (1 + 1j)).sum(), "sum(x)", {"x": X64}, checks="gradient")
    assert r.checks[0].status == "error" and "complex" in r.checks[0].message


def test_fn_raising_is_one_message():
    def fn(x):
        raise KeyError("boom")
    r = verifier.check(fn, "sum(x)", {"x": X64}, checks="gradient")
    assert r.checks[0].status == "error" and "boom" in r.checks[0].message and not r.checks[0].modes


def test_paths_with_the_same_numbers_share_one_table():
    F = cubic("plain", factor=1.01)  # every path computes the same wrong gradient
    r = verifier.check(lambda x: F(x).sum(), "sum(x**3)", {"x": X64}, checks="gradient")
    text = r.checks[0].report()
    assert text.count("elements differ") == 1
    assert "(backward, functional, jacrev, jacfwd)" in text


def test_paths_with_different_numbers_get_their_own_tables():
    # jacfwd uses jvp, the others backward: two different wrong answers, two tables
    class TwoWrongs(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return x**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.save_for_forward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            return g * 3 * ctx.saved_tensors[0] ** 2 * 1.01

        @staticmethod
        def jvp(ctx, t):
            return t * 3 * ctx.saved_tensors[0] ** 2 * 0.99

    r = verifier.check(lambda x: TwoWrongs.apply(x).sum(), "sum(x**3)", {"x": X64}, checks="gradient")
    text = r.checks[0].report()
    assert text.count("elements differ") == 2
    assert "(backward, functional, jacrev)" in text and "(jacfwd)" in text


def test_check_error_is_public_and_distinct_from_mismatch():
    assert issubclass(verifier.CheckError, verifier.VerifierError)
    assert not issubclass(verifier.CheckError, AssertionError)
    assert "CheckError" in verifier.__all__


# ---- grading a student's function (the sandbox child's reverse-mode Hessian) ---------------------

def test_grading_a_once_differentiable_function_reports_the_hessian_instead_of_zeros():
    from verifier._sandbox_runner import _at_point

    F = cubic("old-once")
    fr = {"dtype": "float64", "derivatives": ["gradient", "hessian"]}
    got = _at_point(lambda x: F(x).sum(), [[1.0, 2.0]], fr)
    assert got["gradient"]["data"] == [3.0, 12.0]
    assert "once_differentiable" in got["hessian"]["error"]
    plain = _at_point(lambda x: cubic("old-ctx")(x).sum(), [[1.0, 2.0]], fr)
    assert plain["hessian"]["data"] == [6.0, 0.0, 0.0, 12.0]  # a twice-differentiable backward still runs


def test_a_detached_output_fails_with_a_hint():
    def fn(x):
        with torch.no_grad():
            return (x**3).sum()
    r = verifier.check(fn, "sum(x**3)", {"x": X64}, checks="gradient")
    assert r.checks[0].status == "failed" and "does not require grad" in r.checks[0].message
    const = verifier.check(lambda x: (x.detach() ** 0).sum(), "3", {"x": X64}, checks="gradient")
    assert const.passed and not const.checks[0].message  # a constant is fine: no hint without a failure


# ---- the examples of torch's own extending notes, as written there --------------------------------

class LinearFunction(torch.autograd.Function):
    bias_factor = 1.0

    @staticmethod
    def forward(input, weight, bias):
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight, bias)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0) * LinearFunction.bias_factor
        return grad_input, grad_weight, grad_bias


class MulConstant(torch.autograd.Function):
    @staticmethod
    def forward(tensor, constant):
        return tensor * constant

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, constant = inputs
        ctx.constant = constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None


class Exp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, i):
        result = i.exp()
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad_output):
        (result,) = ctx.saved_tensors
        return grad_output * result


class MyCube(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x**3, 3 * x**2

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], output[1])

    @staticmethod
    def backward(ctx, grad_output, grad_dx):
        x, dx = ctx.saved_tensors
        return grad_output * dx + grad_dx * 6 * x


LIN = {"X": torch.tensor([[0.5, -1.0], [2.0, 0.25]]), "W": torch.tensor([[1.0, 2.0], [-0.5, 0.75], [0.3, 0.1]]),
       "b": torch.tensor([0.1, -0.2, 0.3])}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name, fn, formula, inputs", [
    ("LinearFunction", lambda X, W, b: torch.tanh(LinearFunction.apply(X, W, b)).sum(), "sum(tanh(X @ W.T + b))",
     LIN),
    ("MulConstant", lambda x: (MulConstant.apply(x, 2.5) ** 2).sum(), "sum((2.5*x)**2)", {"x": X64}),
    ("Exp", lambda x: Exp.apply(x).sum(), "sum(exp(x))", {"x": X64}),
    ("MyCube", lambda x: MyCube.apply(x)[0].sum(), "sum(x**3)", {"x": X64}),
])
def test_the_extending_notes_examples_pass_at_the_defaults(name, fn, formula, inputs, dtype):
    report = verifier.check(fn, formula, {k: v.to(dtype) for k, v in inputs.items()})
    assert report.passed, report.report()


def test_a_wrong_bias_gradient_in_linear_function_is_a_mismatch_on_b_only():
    LinearFunction.bias_factor = 1.01
    try:
        r = verifier.check(lambda X, W, b: torch.tanh(LinearFunction.apply(X, W, b)).sum(),
                           "sum(tanh(X @ W.T + b))", {k: v.double() for k, v in LIN.items()},
                           checks=[{"gradient": "f", "wrt": ["X", "W"]}, {"gradient": "f", "wrt": ["b"]}])
    finally:
        LinearFunction.bias_factor = 1.0
    assert [c.status for c in r.checks] == ["passed", "failed"], r.report()

"""Away from a switch only the branch in use counts, for max/min/clamp/abs/relu as for where: SymPy's
derivative of Max(a, b) is Heaviside(a - b) a' + Heaviside(b - a) b', and an unused b' that is undefined
at the point (sqrt or norm at 0) made the exact reference "not defined" (after a 10 s limit search)
where the derivative is plainly the used branch's. torch's nan from the unused branch is a failure."""

from __future__ import annotations

import textwrap

import pytest
import torch

import verifier
from verifier.cli import main

D = torch.float64


def one(v):
    return torch.tensor(v, dtype=D)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_normalize_at_zero_has_the_gradient_of_the_eps_branch(dtype):
    """F.normalize(x) = x / max(norm(x), eps): at 0 the eps branch is in use, gradient 1/eps each."""
    eps = "1e-12"
    r = verifier.check(lambda x: torch.nn.functional.normalize(x, dim=0).sum(), f"sum(x/max(norm(x), {eps}))",
                       {"x": torch.zeros(2, dtype=dtype)}, checks=["gradient", "hessian"])
    grad, hess = r.checks
    assert grad.status == "passed", r.report()
    assert abs(grad.reference[0] - 1e12) < 1e-3 * 1e12
    # torch's reverse-mode Hessian there is nan (norm's double backward at 0); the exact one is 0
    assert hess.status == "failed" and {m for m, x in hess.modes.items() if x.status == "failed"} == {
        "backward", "functional", "jacrev"}
    wrong = verifier.check(lambda x: (x / torch.clamp_min(torch.linalg.vector_norm(x), 1e-12)).sum() * 1.01,
                           f"sum(x/max(norm(x), {eps}))", {"x": torch.zeros(2, dtype=dtype)}, checks="gradient")
    assert wrong.checks[0].status == "failed"


def test_max_of_norm_and_one_at_zero_passes():
    r = verifier.check(lambda x: torch.maximum(torch.linalg.vector_norm(x), one(1.0)), "max(norm(x), 1)",
                       {"x": torch.zeros(2, dtype=D)}, checks="gradient")
    assert r.checks[0].status == "passed" and list(r.checks[0].reference) == [0.0, 0.0]


@pytest.mark.parametrize("fn, formula", [
    (lambda x: torch.maximum(torch.sqrt(x), one(1.0)).sum(), "max(sqrt(x[0]), 1)"),
    (lambda x: torch.minimum(-torch.sqrt(x), one(-1.0)).sum(), "min(-sqrt(x[0]), -1)"),
    (lambda x: torch.clamp(torch.sqrt(x), 1, 2).sum(), "clamp(sqrt(x[0]), 1, 2)"),
    (lambda x: (torch.relu(x - 1) * torch.sqrt(x)).sum(), "relu(x[0] - 1)*sqrt(x[0])"),
], ids=["max", "min", "clamp", "relu-times"])
def test_torchs_nan_from_an_unused_branch_fails_against_the_exact_zero(fn, formula):
    r = verifier.check(fn, formula, {"x": one([0.0])}, checks="gradient")
    c = r.checks[0]
    assert c.status == "failed" and list(c.reference) == [0.0], r.report()
    assert "nan" in r.report()


def test_an_active_branch_that_is_itself_undefined_stays_not_defined():
    """max(x, sqrt(x + 1)) at -1 uses sqrt(x + 1), whose derivative is infinite there: still an error."""
    r = verifier.check(lambda x: torch.maximum(x, torch.sqrt(x + 1)).sum(), "max(x[0], sqrt(x[0] + 1))",
                       {"x": one([-1.0])}, checks="gradient")
    assert r.checks[0].status == "error" and "not defined" in r.checks[0].message


def test_through_verifier_run(tmp_path, capsys):
    f = tmp_path / "p.yaml"
    f.write_text(textwrap.dedent("""\
        version: 1
        problems:
          - id: eps-branch
            inputs: {x: [0.0, 0.0]}
            function: max(norm(x), 1)
            checks: [{gradient: f, expect: [0, 0]}]
          - id: eps-branch-f32
            dtype: float32
            inputs: {x: [0.0, 0.0]}
            function: sum(x / max(norm(x), 1e-6))
            checks: [{gradient: f}]
        """))
    assert main(["run", str(f)]) == 0, capsys.readouterr().out
    g = tmp_path / "q.yaml"
    g.write_text(textwrap.dedent("""\
        version: 1
        problems:
          - id: sqrt-unused
            inputs: {x: [0.0]}
            function: max(sqrt(x[0]), 1)
            checks: [{gradient: f, expect: [0]}]
        """))
    assert main(["run", str(g)]) == 1  # torch's nan from the unused sqrt
    out = capsys.readouterr().out
    assert "FAIL" in out and "not defined" not in out

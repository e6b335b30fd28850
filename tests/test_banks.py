"""The bundled bank and the extra banks pass; a bank of wrong expectations fails, problem by problem."""

from __future__ import annotations

from pathlib import Path

import pytest

import verifier

ROOT = Path(__file__).resolve().parent.parent
BANKS = sorted((ROOT / "tests" / "banks").glob("*.problems.yaml"))


def test_the_bundled_bank_covers_the_seed_notebook():
    pf = verifier.load(ROOT / "verifier" / "problems.yaml")
    seed = {p.id: p for p in pf.problems if "seed" in p.tags}
    assert {"square", "cubic-2d", "linear-mse"} <= set(seed)
    answers = {c.answer for p in seed.values() for c in p.checks if c.answer}
    assert {"dy_dx", "grad_f", "hess_f", "eigenvalues", "tensor_y", "tensor_loss", "tensor_dloss_dy",
            "tensor_dloss_dx"} <= answers


def test_the_wrong_bank_fails_every_problem():
    result = verifier.run(ROOT / "tests" / "banks" / "wrong.problems.yaml")
    assert result.problems and all(p.status == "failed" for p in result.problems), [
        (p.id, p.status) for p in result.problems]
    assert result.exit_code == 1


@pytest.mark.parametrize("bank", [b for b in BANKS if b.name != "wrong.problems.yaml"], ids=lambda b: b.name)
def test_each_extra_bank_passes(bank):
    result = verifier.run(bank)
    bad = [(p.id, p.status, p.error) for p in result.problems if p.status != "passed"]
    assert not bad and result.exit_code == 0

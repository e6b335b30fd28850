"""SymEngine (the accelerator) and SymPy (the fallback) give the same references and verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import verifier
from verifier import _symbolic

pytest.importorskip("symengine")

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "verifier" / "problems.yaml", ROOT / "tests" / "banks" / "eigen.problems.yaml",
         ROOT / "tests" / "banks" / "models.problems.yaml", ROOT / "tests" / "banks" / "wrong.problems.yaml"]


def outcome(path: Path, backend: str, monkeypatch) -> dict:
    monkeypatch.setenv("VERIFIER_SYMBOLIC", backend)
    result = verifier.run(path)
    return {(p.id, c.name): (c.status, c.reference) for p in result.problems for c in p.checks}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_symengine_and_sympy_agree_on_every_check(path, monkeypatch):
    fast = outcome(path, "auto", monkeypatch)
    slow = outcome(path, "sympy", monkeypatch)
    assert fast.keys() == slow.keys()
    for key in fast:
        assert fast[key][0] == slow[key][0], key
        if fast[key][1] is not None:
            np.testing.assert_allclose(fast[key][1], slow[key][1], rtol=1e-14, atol=1e-30, err_msg=str(key))


def test_the_accelerator_is_symengine_unless_disabled(monkeypatch):
    monkeypatch.setenv("VERIFIER_SYMBOLIC", "sympy")
    assert _symbolic.accelerator() is None
    monkeypatch.setenv("VERIFIER_SYMBOLIC", "auto")
    assert _symbolic.accelerator().__name__ == "symengine"


def test_large_symmetric_eigenvalues_use_float64_only_within_weyls_bound():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(60, 60))
    m = a + a.T
    assert _symbolic._weyl_float64(m, 60, rtol=1e-7, atol=1e-7) is not None
    assert _symbolic._weyl_float64(m, 60, rtol=1e-16, atol=0.0) is None  # bound too loose: use mpmath

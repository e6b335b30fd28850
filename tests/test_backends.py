"""SymEngine (the accelerator) and SymPy (the fallback) give the same references and verdicts, and so do
the certified (arb) and the 256-bit MPFR references, within the certified enclosure, on every bank."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import verifier
from verifier import _certified, _eigen, _exact, _symbolic

pytest.importorskip("symengine")

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "verifier" / "problems.yaml", ROOT / "tests" / "banks" / "eigen.problems.yaml",
         ROOT / "tests" / "banks" / "models.problems.yaml", ROOT / "tests" / "banks" / "wrong.problems.yaml"]
BANKS = [ROOT / "verifier" / "problems.yaml"] + sorted((ROOT / "tests" / "banks").glob("*.yaml"))


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
    assert _eigen._weyl_float64(m, 60, rtol=1e-7, atol=1e-7) is not None
    assert _eigen._weyl_float64(m, 60, rtol=1e-16, atol=0.0) is None  # bound too loose: use mpmath


@pytest.mark.parametrize("value", [0.1, -3.5, 1e-300, 123456.789, 2.0**-60, 5e-324])
def test_mpfr_inputs_hold_the_exact_binary_value(value):
    from decimal import Decimal
    from fractions import Fraction

    p, q = value.as_integer_ratio()
    assert Fraction(Decimal(_exact._binary_decimal(p, q))) == Fraction(p, q)


def test_expressions_are_built_in_symengine_only_when_they_are_smooth():
    from verifier._expr import parse

    smooth = _symbolic.SymbolicModel({"f": parse("sum(tanh(x))", {"x"})}, {"x": (2,)}, {})
    kinky = _symbolic.SymbolicModel({"f": parse("sum(abs(x))", {"x"})}, {"x": (2,)}, {})
    assert smooth.lib.__name__ == "symengine" and smooth.bits == 256
    assert kinky.lib.__name__ == "sympy" and kinky.bits is None


def checks(path: Path) -> dict:
    return {(p.id, c.name): c for p in verifier.run(path).problems for c in p.checks}


@pytest.mark.parametrize("path", BANKS, ids=lambda p: p.name)
def test_certified_mpfr_and_sympy_references_agree_within_the_enclosure(path, monkeypatch):
    """Every bank, three ways: arb balls on SymEngine trees (certified), 256-bit MPFR (python-flint
    hidden) and SymPy trees (VERIFIER_SYMBOLIC=sympy, certified too). Same verdicts everywhere;
    each other reference lies within the certified radius of the certified one (plus one float64
    rounding of its own: |other - exact| <= ulp/2, |exact - certified| <= radius)."""
    pytest.importorskip("flint")
    monkeypatch.setenv("VERIFIER_SYMBOLIC", "auto")
    cert = checks(path)
    slow = (monkeypatch.setenv("VERIFIER_SYMBOLIC", "sympy"), checks(path))[1]
    monkeypatch.setenv("VERIFIER_SYMBOLIC", "auto")
    monkeypatch.setitem(sys.modules, "flint", None)
    mpfr = checks(path)
    assert cert.keys() == mpfr.keys() == slow.keys()
    certified = 0
    for key, c in cert.items():
        for other in (mpfr[key], slow[key]):
            assert other.status == c.status, key
            if c.reference is None or other.reference is None:
                continue
            ref, got = np.asarray(c.reference), np.asarray(other.reference)
            assert got.shape == ref.shape, key
            if c.radius is None or np.isnan(c.radius).any():  # an uncertified entry: as before
                np.testing.assert_allclose(got, ref, rtol=1e-14, atol=1e-30, err_msg=str(key))
                continue
            allowed = np.asarray(c.radius) + np.spacing(np.abs(got))
            if c.kind == "eigenvalues":  # mpmath's eigensolver at 40 digits: ~1e-40 ||A|| off
                allowed = allowed + 1e-35 * max(1.0, float(np.abs(ref).max()))
            if other is mpfr[key]:  # 256-bit intermediates: near 0 (sin(pi) at a minimum) ~1e-77 absolute
                allowed = allowed + 1e-60
            assert np.all(np.abs(got - ref) <= allowed), (key, got, ref, c.radius)
        certified += c.certified.startswith(("certified", "exact"))
        assert mpfr[key].certified in ("", _certified.FALLBACK_NOTE), key
    assert certified, "no check was certified"

"""The public surface is small, explicit, importable, and cheap to import."""

from __future__ import annotations

import subprocess
import sys

import verifier


def test_every_public_name_imports():
    for name in verifier.__all__:
        assert getattr(verifier, name) is not None, name


def test_the_errors_are_the_documented_hierarchy():
    assert issubclass(verifier.ProblemSpecError, (verifier.VerifierError, ValueError))
    assert issubclass(verifier.MismatchError, (verifier.VerifierError, AssertionError))


def test_importing_verifier_does_not_import_torch_or_sympy():
    code = "import sys, verifier; print('torch' in sys.modules, 'sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]

"""verifier: check PyTorch automatic differentiation against exact symbolic derivatives.

Torch and SymPy are imported on first use, so ``import verifier`` (and the pytest
plugin) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import CheckError as CheckError
from ._errors import Diagnostic as Diagnostic
from ._errors import MismatchError as MismatchError
from ._errors import ProblemSpecError as ProblemSpecError
from ._errors import VerifierError as VerifierError

__version__ = "0.1.0"

__all__ = [
    "CheckError", "Diagnostic", "MismatchError", "ProblemSpecError", "VerifierError", "__version__",
    "assert_derivatives", "check", "load", "run",
]

_LAZY = {"load": "._api", "run": "._api", "check": "._check", "assert_derivatives": "._check"}

if TYPE_CHECKING:
    from ._api import load as load
    from ._api import run as run
    from ._check import assert_derivatives as assert_derivatives
    from ._check import check as check


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'verifier' has no attribute {name!r}")

"""Warnings that are torch's business, not the user's: hidden from everything verifier prints.

torch 2.13 (DeprecationWarning) and 2.14 (FutureWarning) warn that ``torch.jit.script`` is
deprecated when ``torch.func`` first imports ``torch._dynamo``. The user did not call it and
cannot act on it, so ``verifier run``, ``verifier grade``, the Python API and the pytest plugin
hide exactly these messages; any other warning, including the user's own, is left alone.
"""

from __future__ import annotations

import warnings

# Regular expressions matched against the start of a warning's message.
TORCH_NOISE = (
    r"`torch\.jit\.(script|trace|script_method|ScriptModule)\w*` is (deprecated|not supported)",
    r"torch\.jit\.\w+ is deprecated",
)

# The same filters in pytest's ``filterwarnings`` syntax (``action:message``), for the plugin:
# pytest restores the warning filters around every test, so a module-level filter is not enough.
PYTEST_FILTERS = tuple(f"ignore:{pattern}" for pattern in TORCH_NOISE)


def hide_torch_noise() -> None:
    """Install the filters for this process (idempotent: ``warnings`` dedupes equal filters)."""
    for pattern in TORCH_NOISE:
        warnings.filterwarnings("ignore", message=pattern, category=Warning)

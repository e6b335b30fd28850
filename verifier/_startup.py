"""Fixed costs of the verifier's own processes: the cyclic garbage collector during the
imports, and (for ``verifier grade``) the sandbox zygote's start.

``import torch, sympy`` creates about 300,000 container objects, and CPython's cyclic
collector walks all of them in each full (generation 2) collection it starts while they
are created: 0.4-0.7 of the 1.6-2.3 CPU seconds of that import on the project's machine
(``python -c "import gc; gc.disable(); import torch, sympy"`` takes 1.2-1.5 s). Imports make
almost no cyclic garbage (about 9,000 objects, ~2 MB, for torch, SymPy, ``torch._dynamo`` and
the verifier together), so a verifier *process* pauses the collector while it imports
(:func:`pause`), then freezes what it imported (``gc.freeze``: later collections skip those
objects, and forked children do not copy their pages when a collection would touch them) and
collects again as usual for the actual work (:func:`resume`).

Used only by processes the verifier owns: the command line (``verifier run``/``grade``) and
the sandbox zygote. The library (``verifier.check``, the pytest plugin) never calls it, so a
user's process keeps its own collector settings. What is computed does not change: the
collector only decides *when* unreachable cycles are freed.
"""

from __future__ import annotations

import gc

_paused = False


def preload_torch_func() -> None:
    """While :func:`pause` holds, import what torch imports on the first ``torch.func`` calls
    of a run, so that :func:`resume` freezes those objects too.

    Every reverse-mode ``torch.func`` call (``jacrev``, ``vjp``, ``grad``) enters
    ``torch._dynamo.compiled_autograd._disable()`` (``torch/_functorch/eager_transforms.py``,
    ``_autograd_grad``), which imports ``torch._dynamo`` (0.8-0.9 CPU s); the first forward-mode
    dual tensor imports ``torch._decomp.decompositions_for_jvp`` (0.1 s). A ``verifier run``
    with a gradient check makes both calls anyway; imported later, inside the run, the
    collector's full collections walk their objects again (about 0.1 CPU s more).
    """
    if _paused:  # only in a process of our own (a library caller's imports stay as they were)
        import torch._dynamo  # noqa: F401
        from torch._decomp import decompositions_for_jvp  # noqa: F401


def prespawn_sandbox() -> None:
    """Start ``verifier grade``'s sandbox zygote before anything else (``_sandbox.prespawn``);
    if it cannot start here, the grader's pool tries again and reports why."""
    from ._sandbox import prespawn

    try:
        prespawn()
    except OSError:
        pass


def pause() -> None:
    """Stop the cyclic collector until :func:`resume` (no-op if it is already off)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze every object allocated so far and turn the collector back on, if :func:`pause`
    turned it off; otherwise do nothing (a library caller's settings are left alone)."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()

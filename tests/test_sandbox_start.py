"""How the sandbox zygote is started early (issue 11, fixed costs): ``start(wait=False)`` and
``prespawn`` overlap its ``import torch`` with the grader's work, and change nothing a
submission sees."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from verifier import _sandbox
from verifier._errors import VerifierError
from verifier._sandbox import Request, SandboxPool

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:  # a zombie not yet reaped by its parent counts as gone
        return f.read().split(") ")[1].startswith("Z")


def test_start_without_waiting_returns_at_once_and_the_first_run_waits_for_the_zygote():
    pool = SandboxPool()
    try:
        begun = time.perf_counter()
        pool.start(wait=False)
        assert time.perf_counter() - begun < 1.0  # torch is imported by the zygote, not here
        assert pool._pending is not None and pool._sock is None
        out = pool.run(SUBMISSIONS / "script.py", Request(["grad_f"]), timeout=60)
        assert out.status == "ok", out.notes
        assert pool._pending is None and pool._sock is not None
    finally:
        pool.close()


def test_closing_a_pool_whose_zygote_never_got_ready_kills_it_at_once():
    pool = SandboxPool()
    pool.start(wait=False)
    proc = pool._proc
    assert proc is not None
    begun = time.perf_counter()
    pool.close()
    assert time.perf_counter() - begun < 5.0
    assert proc.poll() is not None
    with pytest.raises(VerifierError, match="closed"):
        pool.run(SUBMISSIONS / "script.py", Request(["grad_f"]))


def test_a_prespawned_zygote_is_adopted_by_the_next_pool_with_namespaces():
    _sandbox.prespawn()
    spare = _sandbox._spare
    assert spare is not None
    with SandboxPool() as pool:
        assert pool._proc is spare[0]  # no second zygote was started
        out = pool.run(SUBMISSIONS / "script.py", Request(["grad_f"]), timeout=60)
        assert out.status == "ok", out.notes
    assert _sandbox._spare is None


def test_a_pool_without_namespaces_never_adopts_the_prespawned_zygote():
    _sandbox.prespawn()
    spare = _sandbox._spare
    assert spare is not None
    with SandboxPool(namespaces=False) as pool:
        assert pool._proc is not spare[0]
        assert spare[0].poll() is not None  # the spare was ended, not left running
    assert _sandbox._spare is None


def test_an_unused_prespawned_zygote_ends_with_the_process():
    code = ("import sys\nfrom verifier import _sandbox\n_sandbox.prespawn()\n"
            "print(_sandbox._spare[0].pid, flush=True)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert _gone(int(proc.stdout.strip()))  # killed at exit, not left to finish importing torch


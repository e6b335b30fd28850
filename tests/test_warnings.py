"""torch's own deprecation noise is hidden from users; every other warning still shows."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from verifier._quiet import hide_torch_noise

TORCH_213 = "`torch.jit.script` is deprecated. Please switch to `torch.compile` or `torch.export`."


@pytest.mark.parametrize("category", [DeprecationWarning, FutureWarning])  # torch 2.13, torch 2.14
def test_torch_jit_deprecation_is_hidden_in_either_category(category):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        hide_torch_noise()
        warnings.warn(TORCH_213, category, stacklevel=1)
    assert seen == []


def test_other_warnings_still_reach_the_user():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        hide_torch_noise()
        warnings.warn("your own deprecation", FutureWarning, stacklevel=1)
        warnings.warn("torch.func.vmap: some other torch warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["your own deprecation",
                                               "torch.func.vmap: some other torch warning"]


def test_verifier_run_prints_no_torch_deprecation_even_with_all_warnings_on(tmp_path):
    bank = tmp_path / "p.problems.yaml"
    bank.write_text(textwrap.dedent("""\
        version: 1
        problems:
          - id: tiny
            inputs: {x: [1, 2]}
            function: sum(x**3)
            checks: [{gradient: f, modes: [jacrev]}, {hessian: f}]
        """), encoding="utf-8")
    env = {**os.environ, "PYTHONWARNINGS": "always"}
    proc = subprocess.run([sys.executable, "-m", "verifier", "run", str(bank)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "torch.jit" not in proc.stderr


def test_pytest_plugin_hides_the_noise_in_a_users_test_run(pytester):
    pytester.makepyfile(f"""
        import warnings

        def test_uses_torch_func():
            warnings.warn({TORCH_213!r}, FutureWarning)
            warnings.warn("a user's warning", UserWarning)
        """)
    result = pytester.runpytest()  # the plugin loads by its entry point; pytest shows warnings by default
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*a user's warning*"])
    result.stdout.no_fnmatch_line("*torch.jit.script*")

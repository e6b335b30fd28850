"""The README's examples for checking your own torch function run as written, and say what they claim."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Checking your own torch function")
    section = text[start:text.index("\n## ", start + 1)]
    found = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(found) >= 2
    return found


def run(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102 - our own README
    return out.getvalue()


@pytest.mark.parametrize("index", range(len(blocks())))
def test_each_readme_block_runs_as_written(index):
    run(blocks()[index])


def test_the_cube_bug_is_caught_with_the_table():
    cube = blocks()[0]
    out = run(cube)
    assert "elements differ" in out and "12.000011999999998" in out


def test_the_cube_without_its_bug_raises_nothing():
    cube = blocks()[0]
    assert " * (1 + 1e-6)" in cube
    fixed = cube.replace(" * (1 + 1e-6)", "").replace("except verifier.MismatchError", "except ZeroDivisionError")
    assert run(fixed) == ""  # assert_derivatives raised nothing (not even caught)


def test_the_mixed_dtype_example_reports_its_paths():
    out = run(blocks()[1])
    assert out.startswith("PASSED   gradient[f]")

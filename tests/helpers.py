"""Shared test helpers: write a problem file and run it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from verifier._runner import ProblemRunner
from verifier._spec import loads


def problems(text: str):
    """Parse an inline problem file (dedented)."""
    return loads(textwrap.dedent(text), "test.yaml").problems


def run_one(text: str):
    """Run the first problem of an inline file; returns its ProblemResult."""
    return ProblemRunner(problems(text)[0]).run()


def write(tmp_path: Path, text: str, name: str = "problems.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p

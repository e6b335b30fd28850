"""Grade one submission against one key in-process (the sandbox pool, the Grader, Gradescope JSON)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from verifier._feedback import gradescope
from verifier._grader import Grader
from verifier._spec import load, loads

CASES = Path(__file__).resolve().parent / "grading_cases"
FAST = {"timeout": 30.0, "cell_timeout": 10.0, "memory_mb": 1024}


def key(text_or_path: str | Path):
    """Problems of a key given as YAML text (dedented) or a path; every one must load clean."""
    if isinstance(text_or_path, Path):
        pf = load(text_or_path)
    else:
        pf = loads(textwrap.dedent(text_or_path), "key.yaml")
    assert not pf.errors, pf.errors
    return pf.problems


def grade(pool, submission: Path, problems, lang: str = "en", **limits):
    """(Graded, SubmissionOutput, results.json dict) for one submission."""
    grader = Grader(problems, lang)
    out = pool.run(submission, grader.request, **{**FAST, **limits})
    g = grader.grade(submission.name, out)
    return g, out, gradescope(g, out, lang)


def outputs(results: dict) -> str:
    return "\n".join([results["output"]] + [t["output"] for t in results["tests"]])


def notebook(cells: list[tuple[str, str]], nbformat_minor: int = 5, counts: bool = True) -> str:
    """An nbformat-4 notebook from ``(kind, source)`` pairs; code cells numbered In [1], In [2]..."""
    out, n = [], 0
    for kind, source in cells:
        cell = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            n += 1
            cell.update(outputs=[], execution_count=n if counts else None)
        out.append(cell)
    return json.dumps({"nbformat": 4, "nbformat_minor": nbformat_minor, "metadata": {}, "cells": out})


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text) if not text.startswith("{") else text, encoding="utf-8")
    return p

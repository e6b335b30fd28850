"""benchmarks/verdicts.py: the labelled corpus has every class, style and dtype, its labels are
true (the correct cases are correct, the buggy ones are wrong), and the table renders."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "verdicts.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("verdicts", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["verdicts"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("verdicts", None)


def test_the_corpus_covers_every_class_style_and_dtype(bench):
    cases = bench.corpus()
    labels = {c.label for c in cases}
    assert labels == set(bench.BUGS) | {"transposed"}
    for label in labels:
        for dtype in (torch.float32, torch.float64):
            styles = {c.style for c in cases if c.label == label and c.dtype == dtype}
            expected = set(bench.STYLES) - ({"old-once"} if label == "2nd derivative only" else set())
            assert styles == expected, (label, dtype)


def test_must_catch_follows_ten_unit_roundoffs(bench):
    cases = {(c.label, c.dtype): c.must_catch for c in bench.corpus(quick=True)}
    assert cases[("rel 1e-5", torch.float32)] and not cases[("rel 1e-7", torch.float32)]
    assert cases[("rel 1e-9", torch.float64)] and not cases[("correct", torch.float64)]


def test_the_labels_are_true_against_finite_free_torch_facts(bench):
    # A correct case's backward agrees with plain torch on the same formula; a buggy one does not.
    for case in bench.corpus(quick=True):
        if case.name != "sum(x**3)" or case.dtype != torch.float64:
            continue
        x = case.inputs["x"].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(case.fn(x), x)
        right = 3 * case.inputs["x"] ** 2
        same = torch.allclose(g, right, rtol=1e-12, atol=0)
        if case.label in ("correct", "2nd derivative only"):
            assert same, (case.style, case.label)
        elif case.label not in ("rel 1e-9",):  # 1e-9 relative is still different, but check it below
            assert not same, (case.style, case.label)
        else:
            assert not torch.equal(g, right)


def test_run_verifier_and_render(bench):
    cases = [c for c in bench.corpus(quick=True) if c.dtype == torch.float64 and c.style == "setup"
             and c.label in ("correct", "wrong sign", "transposed")]
    rows = []
    for c in cases:
        flagged, note = bench.run_verifier(c)
        assert flagged == c.buggy, (c.label, c.name, note)
        rows.append({"label": c.label, "style": c.style, "dtype": "float64", "name": c.name, "buggy": c.buggy,
                     "must": c.must_catch, **{t: {"flagged": flagged, "note": note, "seconds": 0.0}
                                              for t in bench.TOOLS}})
    table = bench.render(rows)
    assert "false alarms" in table and "wrong sign" in table

"""`verifier grade`: a batch of submissions, each with its exact expected score."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from verifier.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEED_NOTEBOOK = ROOT / "examples" / "seed" / "practica5.ipynb"

SEED = '''
import torch
import numpy as np
from torch.autograd.functional import hessian
from numpy.linalg import eig
x = torch.tensor([3.0], requires_grad=True)
y = x ** 2
y.backward()
dy_dx = x.grad
x = torch.tensor([2.0, 3.0], requires_grad=True)
f = x[0]**2 * (x[0] + x[1])
f.backward()
grad_f = x.grad
def f(x):
    return x[0]**2 * (x[0] + x[1])
x = torch.tensor([2.0, 3.0], requires_grad=True)
hess_f = hessian(f, x)
eigenvalues, _ = eig(hess_f)
tensor_x = torch.tensor([[1, 2, 3, 4]], dtype=torch.float32, requires_grad=True)
tensor_w = torch.rand((4, 3), dtype=torch.float32)
tensor_b = torch.ones(3, dtype=torch.float32)
y_label = torch.tensor([[1, 2, 3]], dtype=torch.float32)
tensor_y = torch.matmul(tensor_x, tensor_w) + tensor_b
tensor_loss = torch.mean((tensor_y - y_label) ** 2)
tensor_dloss_dy = torch.autograd.grad(tensor_loss, tensor_y, retain_graph=True)[0]
tensor_dloss_dx = torch.autograd.grad(tensor_loss, tensor_x)[0]
'''


def notebook(cells: list[str]) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
        for c in cells]})


SUBMISSIONS = {
    "correct.py": (SEED, 8, "ok"),
    "accumulated.py": (SEED.replace("f.backward()", "f.backward(retain_graph=True)\nf.backward()"), 7, "ok"),
    "wrong_hessian.py": (SEED.replace("return x[0]**2 * (x[0] + x[1])", "return x[0]**2 * (x[0] - x[1])"),
                         6, "ok"),
    "crash_first.ipynb": (notebook([SEED.split("x = torch.tensor([2.0")[0].replace(
                                        "dy_dx = x.grad", "raise RuntimeError('boom')\ndy_dx = x.grad"),
                                    "x = torch.tensor([2.0" + SEED.split("x = torch.tensor([2.0", 1)[1]]),
                          7, "ok"),
    "infinite_loop.py": ("while True:\n    pass\n" + SEED, 0, "timeout"),
    "memory_bomb.py": ("blocks = []\nwhile True:\n    blocks.append(bytearray(3 * 10**8))\n" + SEED, 0, "memory"),
    "fake_score.py": (SEED + "\nprint(json_text := '{\"score\": 100, \"max_score\": 8}')\n"
                      "open('results.json', 'w').write(json_text)\n", 8, "ok"),
    "evil_objects.py": (SEED + '''
class Evil:
    def __eq__(self, other): return True
    def __reduce__(self): return (print, ("pwned",))
    def __float__(self): return 24.0
grad_f = Evil()
''', 7, "ok"),
    "own_seed.py": ("import torch\ntorch.manual_seed(1234)\n" + SEED, 8, "ok"),
    "syntax_error.ipynb": (notebook([SEED.split("x = torch.tensor([3.0]")[0],
                                     "x = torch.tensor([3.0], requires_grad=True)\ny = x ** 2\n"
                                     "y.backward(\ndy_dx = x.grad",
                                     "x = torch.tensor([2.0" + SEED.split("x = torch.tensor([2.0", 1)[1]]),
                           7, "ok"),
    "not_a_notebook.ipynb": ("this is not json at all \x00\x01", 0, "invalid"),
}


# Outcomes must not depend on machine load: the infinite loop is stopped by the cell alarm
# (it never ends, however fast the machine), every other cell needs well under a second,
# and the memory bomb's first 300 MB block is already over the 256 MiB cap, so it fails at
# once, before it has touched any memory.
LIMITS = ["--timeout", "120", "--cell-timeout", "10", "--memory", "256"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = tmp_path_factory.mktemp("subs")
    for name, (text, _, _) in SUBMISSIONS.items():
        (subs / name).write_text(text, encoding="utf-8")
    out = tmp_path_factory.mktemp("out")
    code = main(["grade", str(subs), "--problems", str(ROOT / "problems.yaml"), "--out", str(out),
                 *LIMITS, "--jobs", "2"])
    with (out / "grades.csv").open() as fh:
        rows = {r["submission"]: r for r in csv.DictReader(fh)}
    return code, out, rows


def test_grading_a_batch_exits_0_and_writes_one_row_per_submission(graded):
    code, _, rows = graded
    assert code == 0
    assert len(rows) == len(SUBMISSIONS)


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_each_submission_gets_its_exact_score_and_status(graded, name):
    _, _, rows = graded
    _, score, status = SUBMISSIONS[name]
    row = rows[Path(name).stem]
    assert (float(row["score"]), float(row["max_score"]), row["status"]) == (score, 8.0, status)


def test_results_json_follows_gradescope_format(graded):
    _, out, _ = graded
    doc = json.loads((out / "correct" / "results.json").read_text())
    assert doc["score"] == 8 and doc["max_score"] == 8
    assert {"name", "score", "max_score", "status", "output"} <= set(doc["tests"][0])


def test_a_gradient_accumulated_twice_gets_a_hint(graded):
    _, out, _ = graded
    doc = json.loads((out / "accumulated" / "results.json").read_text())
    (failed,) = [t for t in doc["tests"] if t["status"] == "failed"]
    assert "grad_f" in failed["name"]
    assert "2 times" in failed["output"] and "zeroing .grad" in failed["output"]


def test_a_fake_results_file_written_by_the_submission_is_ignored(graded):
    _, out, rows = graded
    assert float(rows["fake_score"]["score"]) == 8
    assert json.loads((out / "fake_score" / "results.json").read_text())["score"] == 8


def test_the_seed_notebook_gets_full_marks_and_regrading_is_skipped(tmp_path, capsys):
    args = ["grade", str(SEED_NOTEBOOK), "--problems", str(ROOT / "problems.yaml"), "--out", str(tmp_path)]
    assert main(args) == 0
    row = next(csv.DictReader((tmp_path / "grades.csv").open()))
    assert (row["submission"], row["score"], row["max_score"], row["status"]) == ("practica5", "8", "8", "ok")
    capsys.readouterr()
    assert main(args) == 0
    assert "1 already graded" in capsys.readouterr().out
    assert len(list(csv.DictReader((tmp_path / "grades.csv").open()))) == 1


def test_spanish_feedback(tmp_path):
    sub = tmp_path / "s.py"
    sub.write_text(SUBMISSIONS["accumulated.py"][0])
    main(["grade", str(sub), "--problems", str(ROOT / "problems.yaml"), "--out", str(tmp_path / "o"),
          "--lang", "es"])
    doc = json.loads((tmp_path / "o" / "s" / "results.json").read_text())
    assert any("veces la correcta" in t["output"] for t in doc["tests"])


def test_bad_arguments_exit_2(tmp_path):
    assert main(["grade", str(tmp_path / "missing.py"), "--out", str(tmp_path)]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 3\nproblems: []\n")
    assert main(["grade", str(SEED_NOTEBOOK), "--problems", str(bad), "--out", str(tmp_path)]) == 2


FUNCTION_BANK = """
version: 1
problems:
  - id: cubic-2d
    inputs: {x: [2.0, 3.0]}
    function: x[0]**2 * (x[0] + x[1])
    grading: {function: f}
    checks:
      - {value: f, points: 1}
      - {gradient: f, points: 2}
      - {hessian: f, points: 2}
      - {eigenvalues: f, points: 1}
"""


@pytest.mark.parametrize("body, score", [
    ("return x[0]**2 * (x[0] + x[1])", 6),
    ("return x[0]**2 * (x[0] - x[1])", 0),     # wrong everywhere but the Hessian's first row
    ("return x[0]**2 * (x[0] + x[1]) + 1.0", 5),  # right derivatives, wrong value
])
def test_a_submitted_function_is_checked_at_seeded_points(tmp_path, body, score):
    bank = tmp_path / "bank.yaml"
    bank.write_text(FUNCTION_BANK)
    sub = tmp_path / "student.py"
    sub.write_text("import torch\ndef f(x):\n    " + body + "\n")
    assert main(["grade", str(sub), "--problems", str(bank), "--out", str(tmp_path / "o")]) == 0
    row = next(csv.DictReader((tmp_path / "o" / "grades.csv").open()))
    assert (float(row["score"]), float(row["max_score"])) == (score, 6)

"""Grades a teacher would give, on submissions a red team wrote (round 3):

- a name shared by several exercises: each value counts once, in the exercises' order;
- a student's float32 eigenvalues cast to float64: judged by the tolerance the feedback prints;
- a student's function that runs but is not differentiable by torch: its value still counts.
"""

from __future__ import annotations

import pytest
from grading_support import grade, key, notebook, outputs, write

from verifier._sandbox import SandboxPool


@pytest.fixture(scope="module")
def pool():
    with SandboxPool() as p:
        yield p


SHARED = """
version: 1
problems:
  - id: ej1
    inputs: {x: 3.0}
    define: {y: x**2}
    checks: [{gradient: y, expect: 6, answer: derivada, points: 1}]
  - id: ej2
    inputs: {x: 0.0}
    define: {y: 6*x + x**2}
    checks: [{gradient: y, expect: 6, answer: derivada, points: 1}]
  - id: ej3
    inputs: {x: 0.0}
    define: {y: sin(x)}
    checks: [{gradient: y, expect: 1, answer: derivada, points: 1}]
"""

EJ1 = "x = torch.tensor(3., requires_grad=True)\ny = x**2\ny.backward()\nderivada = x.grad"
EJ2 = "x = torch.tensor(0., requires_grad=True)\ny = 6*x + x**2\ny.backward()\nderivada = x.grad"
EJ3 = "x = torch.tensor(0., requires_grad=True)\ny = torch.sin(x)\ny.backward()\nderivada = x.grad"


def sections(*codes: str) -> str:
    cells = [("code", "import torch")]
    for i, code in enumerate(codes, 1):
        cells += [("markdown", f"## Ejercicio {i}"), ("code", code)]
    return notebook(cells)


@pytest.mark.parametrize("codes, scores", [
    ((EJ1, EJ2, EJ3), [1, 1, 1]),                      # two exercises with the same answer, 6: both count
    ((EJ1, "# Completar aquí", EJ3), [1, 0, 1]),         # ej2 left empty: ej1's 6 does not count twice
    ((EJ1,), [1, 0, 0]),                               # only ej1 done
    (("derivada = torch.tensor(1.)", "derivada = torch.tensor(6.)"), [0, 0, 1]),  # two guesses: one value each
    ((EJ3, "derivada = torch.tensor(7.)", EJ1), [0, 0, 1]),  # answers in each other's places: order counts
])
def test_a_shared_name_gives_each_value_to_one_exercise_in_order(pool, tmp_path, codes, scores):
    g, _, results = grade(pool, write(tmp_path, "s.ipynb", sections(*codes)), key(SHARED))
    assert [t["score"] for t in g.tests] == scores, outputs(results)


def test_a_value_counted_for_an_earlier_exercise_says_so(pool, tmp_path):
    _, _, results = grade(pool, write(tmp_path, "s.ipynb", sections(EJ1, "# Completar aquí", EJ3)), key(SHARED))
    ej2 = results["tests"][1]["output"]
    assert "already counted for an earlier exercise" in ej2 and "each value counts once" in ej2


EIGEN = """
version: 1
problems:
  - id: ej1
    inputs: {x: [0.3, 0.7]}
    function: sin(x[0]) * exp(x[1]) + x[0]**3 / 7
    checks:
      - {gradient: f, answer: g, points: 1}
      - {hessian: f, answer: H, points: 1}
      - {eigenvalues: f, answer: ev, points: 1}
"""

FLOAT32_CAST = """
import numpy as np
import torch
x = torch.tensor([0.3, 0.7], requires_grad=True)
def f(x): return torch.sin(x[0]) * torch.exp(x[1]) + x[0]**3 / 7
f(x).backward()
g = x.grad.double()
H = torch.autograd.functional.hessian(f, x).double()
ev = np.linalg.eigvals(H.numpy()){wrong}
"""


def test_float32_eigenvalues_cast_to_float64_are_judged_by_the_printed_tolerance(pool, tmp_path):
    # Errors of 2.9e-8 and 1.6e-8 failed while the feedback printed rtol=1e-07, atol=1e-07: the
    # eigenvalues were judged by torch's own float64 rounding bound, not the answer's tolerance.
    g, _, results = grade(pool, write(tmp_path, "a.py", FLOAT32_CAST.format(wrong="")), key(EIGEN))
    assert (g.score, g.max_score) == (3, 3), outputs(results)
    g, _, results = grade(pool, write(tmp_path, "b.py", FLOAT32_CAST.format(wrong=" * (1 + 1e-5)")), key(EIGEN))
    assert [t["score"] for t in g.tests] == [1, 1, 0], outputs(results)


FUNCTION_KEY = """
version: 1
problems:
  - id: fn
    inputs: {x: [2.0, 3.0]}
    function: x[0]**2 * (x[0] + x[1])
    grading: {function: f_student}
    checks:
      - {value: f, points: 1}
      - {gradient: f, points: 1}
      - {hessian: f, points: 1}
"""


@pytest.mark.parametrize("body, scores", [
    ("x = np.asarray(x.detach())\n    return torch.tensor(x[0]**2 * (x[0] + x[1]))", [1, 0, 0]),
    ("return torch.tensor((x[0]**2 * (x[0] + x[1])).item())", [1, 0, 0]),
    ("return x[0]**2 * (x[0] + x[1])", [1, 1, 1]),          # the control: differentiable
    ("return x[0]**2 * (x[0] + x[1]) + 1", [0, 1, 1]),      # and a wrong value still fails
])
def test_a_function_torch_cannot_differentiate_keeps_its_value(pool, tmp_path, body, scores):
    src = f"import numpy as np\nimport torch\ndef f_student(x):\n    {body}\n"
    g, _, results = grade(pool, write(tmp_path, "f.py", src), key(FUNCTION_KEY))
    assert [t["score"] for t in g.tests] == scores, outputs(results)
    if scores == [1, 0, 0]:
        text = outputs(results)
        assert "ran, but its gradient could not be taken" in text and "not connected to its input" in text
        assert "was not found or did not run" not in text


def test_in_order_finds_the_largest_matching_where_greedy_does_not():
    from verifier._matching import in_order

    # Exercise 0 fits only the last value: taking it (greedy) would leave 1 and 2 nothing.
    fits = [[False, False, True], [True, False, False], [False, True, False]]
    assert in_order(fits) == {1: 0, 2: 1}
    assert in_order([[True, True], [True, True]]) == {0: 0, 1: 1}
    assert in_order([[True], [True]]) == {0: 0}  # one value, one exercise
    assert in_order([]) == {} and in_order([[False, False]]) == {}

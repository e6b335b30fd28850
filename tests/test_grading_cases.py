"""Every case of the grading kinds (issue 9: reading, answers, function targets, capture, frames,
feedback), with its right outcome, and variants of each kind. Inputs are in tests/grading_cases."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from grading_support import CASES, grade, key, notebook, outputs, write

from verifier._sandbox import SandboxPool


@pytest.fixture(scope="module")
def pool():
    with SandboxPool() as p:
        yield p


# -- item 1: read submissions as Jupyter does ---------------------------------------------------

@pytest.mark.parametrize("name", ["m1_text_export_output_overwrites.txt", "m1_same_notebook.ipynb"])
def test_m1_printed_output_in_a_text_export_is_never_run(pool, name):
    g, out, _ = grade(pool, CASES / name, key(CASES / "m1_key.yaml"))
    assert (g.score, g.max_score, g.status) == (1, 1, "ok")


def test_m1_variant_output_that_looks_like_code_and_a_repr(pool, tmp_path):
    sub = write(tmp_path, "export.txt", '''\
        # Exercise: the loss

        In [3]:
        import torch
        x = torch.tensor([1., 2.], requires_grad=True)
        loss = (x**2).sum() / 3
        print("loss =", round(loss.item(), 1))


        loss = 1.7


        Now the gradient.

        In [4]:
        loss


        tensor(1.6667, grad_fn=<DivBackward0>)
        ''')
    g, out, _ = grade(pool, sub, key(CASES / "m1_key.yaml"))
    assert out.sources == [
        'import torch\nx = torch.tensor([1., 2.], requires_grad=True)\nloss = (x**2).sum() / 3\n'
        'print("loss =", round(loss.item(), 1))', "loss"]
    assert out.labels == ["In [3]", "In [4]"]
    assert g.score == 1


def test_m1_code_after_two_blank_lines_that_printed_nothing_like_it_still_runs(pool, tmp_path):
    sub = write(tmp_path, "export.txt", '''\
        In [1]:
        import torch
        x = torch.tensor([1., 2.], requires_grad=True)
        print("ready")


        loss = (x**2).sum() / 3
        ''')
    g, out, _ = grade(pool, sub, key(CASES / "m1_key.yaml"))
    assert g.score == 1, out.sources


@pytest.mark.parametrize("name", ["m6_nbconvert_export.py", "m6_same_as_notebook.ipynb"])
def test_m6_a_prose_cell_fails_alone(pool, name):
    g, out, results = grade(pool, CASES / "m6" / name, key(CASES / "m6" / "m18_key.yaml"))
    assert (g.score, g.max_score) == (1, 1)
    assert [c.ok for c in out.cells] == [False, True]
    assert out.cells[0].label.startswith("In [ ]") and out.cells[1].label == "In [1]"
    assert "In [ ] (code cell 1) raised: SyntaxError" in results["output"]


def test_m6_variant_jupytext_percent_script_with_markdown_cells(pool, tmp_path):
    sub = write(tmp_path, "practica.py", '''\
        # %% [markdown]
        # # Exercise 1
        # Why is the second derivative more expensive?

        # %%
        Answer: because the gradient is differentiated again.

        # %%
        import torch
        x = torch.tensor([3.0], requires_grad=True)
        y = x**2
        y.backward()
        dy_dx = x.grad
        ''')
    g, out, _ = grade(pool, sub, key(CASES / "m6" / "m18_key.yaml"))
    assert g.score == 1 and len(out.cells) == 2 and not out.cells[0].ok


def test_m6_variant_nbconvert_export_with_numbered_cells_and_markdown_comments(pool, tmp_path):
    sub = write(tmp_path, "p.py", '''\
        #!/usr/bin/env python
        # coding: utf-8

        # # Práctica 5

        # In[3]:


        import torch


        # ## Ejercicio 1: derivada

        # In[7]:


        x = torch.tensor([3.0], requires_grad=True)
        (x**2).backward()
        dy_dx = x.grad
        ''')
    g, out, _ = grade(pool, sub, key(CASES / "m6" / "m18_key.yaml"))
    assert out.labels == ["In [3]", "In [7]"] and g.score == 1


# -- item 2: find the answers the way an instructor would --------------------------------------

def test_m8_answers_use_the_students_names_e_I_and_sum(pool, tmp_path):
    g, _, _ = grade(pool, CASES / "m8_eig_named_e.py", key(CASES / "m8_key_answer_e.yaml"))
    assert (g.score, g.max_score) == (2, 2)
    sub = write(tmp_path, "s.py", "import torch\nI = torch.tensor([2.0, 3.0])\nsum = I * 2\n")
    g, _, _ = grade(pool, sub, key('''\
        version: 1
        problems:
          - id: names
            inputs: {x: [2.0, 3.0]}
            define: {y: 2*x}
            grading: {bind: {x: I}}
            checks:
              - {value: y, answer: sum}
              - {value: x, answer: I}
        '''))
    assert g.score == 2


def test_m9_answer_in_x_grad(pool):
    g, _, _ = grade(pool, CASES / "m9" / "m9_grad_in_x_grad.py", key(CASES / "m9" / "m9_key_x_grad.yaml"))
    assert (g.score, g.max_score) == (1, 1)


PATHS_KEY = '''\
    version: 1
    problems:
      - id: paths
        inputs: {x: [1.0, 2.0]}
        define: {y: sum(x**2)}
        checks:
          - {gradient: y, answer: 'out[0]'}
          - {gradient: y, answer: 'res["grad"]'}
          - {gradient: y, answer: 'pair[1].grad'}
          - {value: y, answer: [missing_name, 'res["loss"]']}
          - {hessian: y, answer: 'H[0]', points: 2}
    '''


def test_m9_variant_index_key_and_chained_paths(pool, tmp_path):
    sub = write(tmp_path, "s.py", '''\
        import torch
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        loss = (x**2).sum()
        loss.backward()
        out = [x.grad.clone(), "other"]
        res = {"grad": x.grad.numpy().copy(), "loss": loss.item()}
        pair = (None, x)
        H = (torch.eye(2) * 2, None)
        ''')
    g, _, results = grade(pool, sub, key(PATHS_KEY))
    assert (g.score, g.max_score) == (6, 6), outputs(results)


def test_m9_variant_wrong_values_behind_a_path_fail(pool, tmp_path):
    sub = write(tmp_path, "s.py", '''\
        import torch
        out = [torch.tensor([2.0, 5.0])]
        res = {"grad": [0, 0], "loss": 4.0}
        pair = (None, torch.ones(2, requires_grad=True))
        H = [torch.eye(2)]
        ''')
    g, _, results = grade(pool, sub, key(PATHS_KEY))
    text = outputs(results)
    assert g.score == 0, text
    assert "'pair[1].grad' is None: was backward() called?" in text
    assert "not a number" not in text


def test_m9_variant_paths_never_call_student_methods(pool, tmp_path):
    sub = write(tmp_path, "s.py", '''\
        import torch
        class Sneaky(dict):
            def __getitem__(self, k): return torch.tensor([2.0, 4.0])
        class Attr:
            def __getattr__(self, name): return torch.tensor([2.0, 4.0])
        class Key(str):
            def __eq__(self, other): raise SystemExit("called")
            def __hash__(self): return hash("grad")
        out = Sneaky()
        res = {Key("grad"): torch.tensor([2.0, 4.0])}
        pair = (None, Attr())
        H = Attr()
        ''')
    g, out, results = grade(pool, sub, key(PATHS_KEY))
    assert g.score == 0 and out.status == "ok", outputs(results)


def test_m10_two_exercises_reusing_a_name_are_each_graded_on_their_own_value(pool):
    g, _, results = grade(pool, CASES / "m10" / "m10_reused_name.ipynb", key(CASES / "m10" / "m10_key.yaml"))
    assert (g.score, g.max_score) == (2, 2)
    assert "after In [2]" in results["tests"][0]["output"]


M10_AFTER = '''\
    version: 1
    problems:
      - id: ej1
        inputs: {x: 2.0}
        define: {y: x**3}
        checks: [{gradient: y, answer: derivada, after: %s}]
      - id: ej2
        inputs: {x: 0.0}
        define: {y: sin(x)}
        checks: [{gradient: y, answer: derivada, after: %s}]
    '''


@pytest.mark.parametrize("first, second", [("2", "3"), ("'Ejercicio 1'", "'ejercicio 2'")])
def test_m10_variant_after_a_cell_number_or_a_code_comment_heading(pool, first, second):
    g, _, _ = grade(pool, CASES / "m10" / "m10_reused_name.ipynb", key(M10_AFTER % (first, second)))
    assert g.score == 2


def test_m10_variant_after_a_markdown_heading_in_an_english_handout(pool, tmp_path):
    nb = notebook([("markdown", "# Lab 5"), ("code", "import torch"),
                   ("markdown", "## Exercise 1: the cube"), ("code", "x = torch.tensor(2.0, requires_grad=True)"),
                   ("code", "d = torch.autograd.grad(x**3, x)[0]"),
                   ("markdown", "## Exercise 2: the sine"),
                   ("code", "x = torch.tensor(0.0, requires_grad=True)\n"
                            "d = torch.autograd.grad(torch.sin(x), x)[0]"),
                   ("markdown", "## Exercise 3"), ("code", "d = None")])
    sub = write(tmp_path, "lab.ipynb", nb)
    text = M10_AFTER.replace("derivada", "d") % ("'Exercise 1'", "'exercise 2: the sine'")
    g, _, _ = grade(pool, sub, key(text))
    assert g.score == 2
    g, _, results = grade(pool, sub, key(M10_AFTER.replace("derivada", "d") % ("'Exercise 9'", "2")))
    assert g.score == 0 and "no code cell or heading 'Exercise 9'" in results["tests"][0]["output"]


def test_m10_variant_an_old_nbformat_3_notebook_is_upgraded(pool, tmp_path):
    cell = {"cell_type": "code", "language": "python", "outputs": [], "prompt_number": 5,
            "input": "import torch\nx = torch.tensor(2.0, requires_grad=True)\n"
                     "derivada = torch.autograd.grad(x**3, x)[0]"}
    nb = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "heading", "level": 2, "source": "Ejercicio 1"}, cell]}]}
    sub = write(tmp_path, "old.ipynb", json.dumps(nb))
    g, out, _ = grade(pool, sub, key(M10_AFTER % ("'Ejercicio 1'", "1")))
    assert out.labels == ["In [5]"] and g.tests[0]["status"] == "passed" and g.score == 1


def test_answer_any_searches_tensors_arrays_and_grads_and_names_the_match(pool, tmp_path):
    problems = key('''\
        version: 1
        problems:
          - id: any
            inputs: {x: [1.0, 2.0, 3.0]}
            define: {y: sum(x**3)}
            checks:
              - {gradient: y, answer: any}
              - {hessian: y, answer: [h, any]}
        ''')
    sub = write(tmp_path, "s.py", '''\
        import torch, numpy as np
        weights = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        (weights**3).sum().backward()
        zz = np.diag([6.0, 12.0, 18.0])
        ''')
    g, _, results = grade(pool, sub, key_problems := problems)
    assert g.score == 2
    assert "found in 'weights.grad'" in results["tests"][0]["output"]
    assert "found in 'zz'" in results["tests"][1]["output"]
    bad = write(tmp_path, "bad.py", "import torch\nw = torch.tensor([3.0, 12.0, 28.0])\n")
    g, _, results = grade(pool, bad, key_problems)
    assert g.score == 0 and "no tensor or array of 3 values" in results["tests"][0]["output"]


# -- item 3: grading.function -------------------------------------------------------------------

def test_m15_function_checked_on_the_checks_wrt(pool, tmp_path):
    g, _, results = grade(pool, CASES / "m15_function_two_inputs.py", key(CASES / "m15_key_wrt_subset.yaml"))
    assert (g.score, g.max_score) == (2, 2), outputs(results)
    wrong = write(tmp_path, "wrong.py", "def f(x, t):\n    return x[0]**2 * t + 2 * x[1]\n")
    g, _, _ = grade(pool, wrong, key(CASES / "m15_key_wrt_subset.yaml"))
    assert (g.score, [t["status"] for t in g.tests]) == (1, ["failed", "passed"])


def test_m15_variant_function_of_one_input_with_the_other_fixed(pool, tmp_path):
    problems = key('''\
        version: 1
        problems:
          - id: partial
            inputs: {x: [1.0, 2.0], t: 3.0}
            define:
              y: x[0]**2 * t + x[1]
              z: t**2
            grading: {function: {name: g, target: y, wrt: [x]}}
            checks:
              - {gradient: y, wrt: x}
              - {hessian: y, wrt: x}
              - {value: y}
              - {gradient: z}
        ''')
    sub = write(tmp_path, "s.py", "def g(x):\n    return x[0]**2 * 3.0 + x[1]\n")
    g, _, results = grade(pool, sub, problems)
    assert [t["name"] for t in g.tests] == ["partial: gradient[y] (g())", "partial: hessian[y] (g())",
                                           "partial: value[y] (g())"]
    assert g.score == 3, outputs(results)


def test_m17_points_stay_in_the_domain(pool, tmp_path):
    g, _, results = grade(pool, CASES / "m17_function_log.py", key(CASES / "m17_key_log_near0.yaml"))
    assert (g.score, g.max_score) == (2, 2), outputs(results)
    wrong = write(tmp_path, "wrong.py", "import torch\ndef f(x):\n    return (torch.log(x) + x).sum()\n")
    assert grade(pool, wrong, key(CASES / "m17_key_log_near0.yaml"))[0].score == 0


def test_m17_variant_points_given_by_the_key_and_a_domain_edge(pool, tmp_path):
    from verifier._grader import Grader

    problems = key('''\
        version: 1
        problems:
          - id: acos
            inputs: {x: [0.99, -0.5]}
            function: sum(acos(x))
            grading: {function: {name: f, points: [{x: [0.5, 0.25]}, {x: [-0.9, 0.0]}]}}
            checks: [{gradient: f}, {hessian: f}]
          - id: sqrt
            inputs: {x: 0.001}
            function: sqrt(x) + log(x)
            grading: {function: f2}
            checks: [{gradient: f}]
        ''')
    grader = Grader(problems)
    assert [p["x"].tolist() for p in grader.points["acos"]] == [[0.99, -0.5], [0.5, 0.25], [-0.9, 0.0]]
    assert all(float(p["x"]) > 0 for p in grader.points["sqrt"]) and len(grader.points["sqrt"]) == 3
    sub = write(tmp_path, "s.py", "import torch\ndef f(x):\n    return torch.acos(x).sum()\n"
                "def f2(x):\n    return torch.sqrt(x) + torch.log(x)\n")
    g, _, results = grade(pool, sub, problems)
    assert g.score == 3, outputs(results)


def test_m17_a_key_whose_reference_cannot_be_computed_never_stops_the_batch(tmp_path):
    sub = write(tmp_path, "s.py", "import torch\ndef f(x):\n    return torch.log(x).sum()\n")
    keyfile = write(tmp_path, "k.yaml", '''\
        version: 1
        problems:
          - id: nowhere
            inputs: {x: [-1.0]}
            function: sum(log(x))
            grading: {function: f}
            checks: [{gradient: f}]
          - id: fine
            inputs: {x: [2.0]}
            function: sum(log(x))
            grading: {function: f}
            checks: [{gradient: f}]
        ''')
    proc = subprocess.run([sys.executable, "-m", "verifier", "grade", str(sub), "--problems", str(keyfile),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(next((tmp_path / "out").glob("*/results.json")).read_text())
    assert [(t["status"], t["max_score"]) for t in results["tests"]] == [("failed", 0), ("passed", 1)]
    assert "not defined at any of the key's points" in results["tests"][0]["output"]


# -- item 4: never lose what was computed --------------------------------------------------------

@pytest.mark.parametrize("name", ["G04a_os_exit_in_last_cell.ipynb", "G04b_segfault_in_last_cell.ipynb"])
def test_g04_answers_of_earlier_cells_survive_the_last_cell(pool, name):
    g, out, results = grade(pool, CASES / name, key(CASES / "key_problems.yaml"))
    assert (g.score, g.max_score, g.status) == (12, 12, "crash")
    assert "the answers computed by the cells before were kept" in results["output"]
    assert ("exit code 0" if "exit" in name else "signal 11") in results["output"]


LAST_CELLS = {
    "abort": "import os\nos.abort()",
    # through a C call at every level (map), so the C stack overflows: SIGSEGV
    "stack_overflow": "import sys\nsys.setrecursionlimit(10**7)\n"
                      "def r(n):\n    return list(map(r, [n + 1]))\nr(0)",
    "ignored_alarm": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass",
    "exit_in_a_thread": "import os, threading\nt = threading.Thread(target=os._exit, args=(3,))\n"
                        "t.start()\nt.join()",
}


@pytest.mark.parametrize("how", sorted(LAST_CELLS))
def test_g04_variant_any_way_of_ending_the_process_keeps_earlier_answers(pool, tmp_path, how):
    cells = json.loads((CASES / "G04a_os_exit_in_last_cell.ipynb").read_text())["cells"]
    first = cells[0]["source"]
    nb = notebook([("markdown", "# Práctica 5"), ("code", first), ("code", "extra = 1"),
                   ("code", LAST_CELLS[how])])
    sub = write(tmp_path, f"{how}.ipynb", nb)
    limits = {"timeout": 8.0, "cell_timeout": 2.0} if how == "ignored_alarm" else {}
    g, out, results = grade(pool, sub, key(CASES / "key_problems.yaml"), lang="es", **limits)
    assert g.score == 12, results["output"]
    assert g.status == ("timeout" if how == "ignored_alarm" else "crash")
    assert "se conservaron las respuestas" in results["output"]
    assert "In [3]" in results["output"]


# -- item 6 (frames): a forged frame makes that submission invalid, the batch goes on ------------

def test_g01b_forged_frame_is_invalid_and_the_batch_goes_on(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "forger.py").write_bytes((CASES / "G01b_forge_bigint_minimal.py").read_bytes())
    (subs / "good.ipynb").write_bytes((CASES / "G04a_os_exit_in_last_cell.ipynb").read_bytes())
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "verifier", "grade", str(subs), "--problems", str(CASES / "key_problems.yaml"),
           "--out", str(out)]
    for _ in range(2):  # a rerun does not crash either
        proc = subprocess.run(cmd + ["--force"], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    rows = (out / "grades.csv").read_text().splitlines()
    forged = [r for r in rows if "forger" in r]
    good = [r for r in rows if "good" in r]
    assert len(forged) == 1 and ",invalid," in forged[0] and ",0,12," in forged[0]
    assert len(good) == 1 and ",12,12," in good[0]


# -- item 7: feedback ------------------------------------------------------------------------------

@pytest.mark.parametrize("k, lang, text", [(10, "en", "10 times the right one"), (3, "es", "3 veces la correcta"),
                                           (7, "en", "7 times"), (-2, "en", "-2 times")])
def test_m11_k_times_hint_for_any_integer_k(pool, tmp_path, k, lang, text):
    src = (CASES / "m11_accumulated_10x.py").read_text()
    if k != 10:
        src = src.replace("range(10)", f"range({abs(k)})").replace("(weights*3)", "(weights*3)" if k > 0 else
                                                                   "(-weights*3)")
    sub = write(tmp_path, "acc.py", src)
    g, _, results = grade(pool, sub, key(CASES / "m11_key.yaml"), lang=lang)
    assert g.score == 0 and text in results["tests"][0]["output"]


def test_m11_no_hint_for_a_value_that_is_not_a_multiple(pool, tmp_path):
    sub = write(tmp_path, "s.py", "import torch\ng = torch.tensor([3.0, 6.0, 9.0, 3.0])\n")
    _, _, results = grade(pool, sub, key(CASES / "m11_key.yaml"))
    assert "times" not in results["tests"][0]["output"]


def test_feedback_in_spanish_includes_the_mismatch_table(pool, tmp_path):
    sub = write(tmp_path, "s.py", "import torch\ng = torch.tensor([3.0, 3.0, 3.5, 3.0])\n")
    _, _, results = grade(pool, sub, key(CASES / "m11_key.yaml"), lang="es")
    text = results["tests"][0]["output"]
    assert "incorrecto: esperado" in text and "1 de 4 elementos difieren" in text
    assert "índice" in text and "tuyo" in text and "expected" not in text and "differ" not in text


def test_a_missing_variable_is_linked_to_the_cell_that_failed(pool, tmp_path):
    nb = notebook([("code", "import torch\nx = torch.tensor([1., 2.], requires_grad=True)"),
                   ("code", "loss = (x**2).sum() / 3\nraise ValueError('oops')"),
                   ("code", "print('unrelated')\n1 / 0")])
    sub = write(tmp_path, "nb.ipynb", nb)
    _, _, results = grade(pool, sub, key(CASES / "m1_key.yaml").copy())
    assert results["tests"][0]["status"] == "passed"  # loss was assigned before the raise
    nb = notebook([("code", "import torch"), ("code", "print('unrelated')\n1 / 0"),
                   ("code", "x = torch.tensor([1., 2.])\nloss = undefined_name + x")])
    sub = write(tmp_path, "nb2.ipynb", nb)
    _, _, results = grade(pool, sub, key(CASES / "m1_key.yaml"), lang="es")
    text = results["tests"][0]["output"]
    assert "no se encontró la variable 'loss'" in text
    assert "In [3] lanzó NameError: name 'undefined_name' is not defined (line 2)" in text


def test_m12_a_check_with_points_that_cannot_be_graded_is_refused_at_load(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "verifier", "grade", str(CASES / "m12" / "m12_submission.py"),
                           "--problems", str(CASES / "m12" / "m12_key.yaml"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert "m12_key.yaml:8:64: this check has points but cannot be graded" in proc.stderr


@pytest.mark.parametrize("ending", ["import os\nos._exit(0)", "import ctypes\nctypes.string_at(0)",
                                    "import os\nos.abort()"])
def test_g04_variant_a_plain_script_keeps_what_its_earlier_statements_computed(pool, tmp_path, ending):
    cells = json.loads((CASES / "G04a_os_exit_in_last_cell.ipynb").read_text())["cells"]
    sub = write(tmp_path, "script.py", cells[0]["source"] + ending + "\n")
    g, out, results = grade(pool, sub, key(CASES / "key_problems.yaml"))
    assert (g.score, g.status) == (12, "crash"), results["output"]
    assert "the script" in results["output"] and "were kept" in results["output"]


def test_statements_of_a_cell_still_stop_at_the_first_error_and_future_imports_work(pool, tmp_path):
    nb = notebook([("code", "from __future__ import annotations\nimport torch\n"
                            "x = torch.tensor([1., 2.], requires_grad=True)"),
                   ("code", "loss = (x**2).sum() / 3\nraise RuntimeError('stop')\nloss = None"),
                   ("code", "def broken(:\n    pass")])
    sub = write(tmp_path, "nb.ipynb", nb)
    g, out, results = grade(pool, sub, key(CASES / "m1_key.yaml"))
    assert g.score == 1  # the statement after the raise never ran
    assert out.cells[1].error == "RuntimeError: stop (line 2)"
    assert out.cells[2].error.startswith("SyntaxError") and "(line 1)" in out.cells[2].error


def test_evaluating_a_function_between_cells_leaves_the_random_generators_alone(pool, tmp_path):
    problems = key('''\
        version: 1
        problems:
          - id: weights
            inputs: {w: {random: uniform, shape: [3], seed: 0}}
            define: {v: w}
            checks: [{value: v, answer: w}]
          - id: fn
            inputs: {x: [1.0, 2.0]}
            function: sum(x**2)
            grading: {function: f}
            checks: [{gradient: f}]
        ''')
    nb = notebook([("code", "import torch, random, numpy as np\ntorch.manual_seed(0)\n"
                            "def f(x):\n    torch.rand(5); np.random.rand(); random.random()\n"
                            "    return (x**2).sum()"),
                   ("code", "w = torch.rand(3)")])
    g, _, results = grade(pool, write(tmp_path, "nb.ipynb", nb), problems)
    assert g.score == 2, outputs(results)


def test_an_answer_that_is_not_numbers_is_explained_in_the_chosen_language(pool, tmp_path):
    sub = write(tmp_path, "s.py", "class Evil:\n    def __float__(self): return 3.0\ng = Evil()\n")
    _, _, es = grade(pool, sub, key(CASES / "m11_key.yaml"), lang="es")
    assert es["tests"][0]["output"] == "'g' no es un número, lista, array ni tensor (no numérico: Evil)"
    _, _, en = grade(pool, sub, key(CASES / "m11_key.yaml"))
    assert en["tests"][0]["output"] == "'g' is not a number, list, array or tensor (not numeric: Evil)"


def test_m9_variant_a_module_parameter_gradient(pool, tmp_path):
    problems = key('''\
        version: 1
        problems:
          - id: linear
            inputs: {w: [0.5, -1.0]}
            define:
              loss: (w[0] + 2*w[1])**2
            grading: {bind: {w: 'model.fc.weight'}}
            checks: [{gradient: loss, wrt: w, answer: 'model.fc.weight.grad'}]
        ''')
    sub = write(tmp_path, "s.py", '''\
        import torch
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(2, 1, bias=False)
        model = Net()
        x = torch.tensor([[1.0, 2.0]])
        (model.fc(x) ** 2).sum().backward()
        ''')
    g, _, results = grade(pool, sub, problems)
    assert g.score == 1, outputs(results)
    wrong = write(tmp_path, "w.py", sub.read_text().replace("** 2).sum()", "** 2).sum() * 2"))
    assert grade(pool, wrong, problems)[0].score == 0

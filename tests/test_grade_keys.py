"""The grading key (answer paths, alternatives, after, any, function targets) and how
submissions are read into cells; no sandbox needed."""

from __future__ import annotations

import json
import textwrap

import pytest

from verifier._gradekey import AnswerPath, PathError, parse_answer, parse_path
from verifier._notebook import read_text
from verifier._spec import loads


def load(text: str):
    return loads(textwrap.dedent(text), "key.yaml")


def one_check(answer: str, extra: str = "") -> str:
    return f'''\
        version: 1
        problems:
          - id: p
            inputs: {{x: [1.0, 2.0]}}
            define: {{y: sum(x**2)}}
            checks:
              - {{gradient: y, answer: {answer}{extra}}}
        '''


@pytest.mark.parametrize("text, name, steps", [
    ("x.grad", "x", (("attr", "grad"),)),
    ("out[0]", "out", (("index", 0),)),
    ('res["loss"]', "res", (("index", "loss"),)),
    ("H[0, -1]", "H", (("index", [0, -1]),)),
    ("pair[1].grad.T", "pair", (("index", 1), ("attr", "grad"), ("attr", "T"))),
    ("model.fc.weight.grad", "model", (("attr", "fc"), ("attr", "weight"), ("attr", "grad"))),
    ("e", "e", ()), ("sum", "sum", ()), ("I", "I", ()),
])
def test_access_paths_are_parsed_into_steps(text, name, steps):
    path = parse_path(text)
    assert (path.name, path.steps) == (name, steps)
    assert parse_path(path.text) == path


@pytest.mark.parametrize("text, why", [
    ("x.__class__", "not readable"), ("x.grad.sum()", "access path"), ("f(x)", "access path"),
    ("x[y]", "integer or a string"), ("x[1:2]", "integer or a string"), ("__import__", "not a valid name"),
    ("x + 1", "access path"), ("x._version", "not readable"), ("lambda: 0", "access path"), ("", "access path"),
    ("x[" + "0][" * 10 + "0]", "more than 8 steps"), ("class", "access path"),
])
def test_unsafe_paths_are_refused(text, why):
    with pytest.raises(PathError, match=why):
        parse_path(text)


def test_alternatives_and_any():
    paths, search = parse_answer(["dy_dx", "x.grad", "any"])
    assert [p.text for p in paths] == ["dy_dx", "x.grad"] and search
    assert parse_answer("any") == ((), True)
    assert parse_answer("g") == ((AnswerPath("g"),), False)


def test_a_key_with_paths_alternatives_and_after_loads():
    pf = load(one_check("[dy_dx, x.grad, any]", ", after: 'Ejercicio 1'"))
    c = pf.problems[0].checks[0]
    assert not pf.errors
    assert c.answer == "dy_dx | x.grad | any" and c.search and c.after == "Ejercicio 1"


@pytest.mark.parametrize("answer, extra, where, message", [
    ("x.__class__", "", "7:32", "attribute '.__class__' is not readable"),
    ("[good, 'f(x)']", "", "7:39", "not an access path"),
    ("x.grad", ", after: 0", "7:46", "after is a code-cell number"),
    ("3", "", "7:31", "an answer is a name or an access path"),
])
def test_bad_answers_are_errors_with_their_position(answer, extra, where, message):
    errors = load(one_check(answer, extra)).errors
    assert len(errors) == 1 and f"key.yaml:{where}" in str(errors[0]) and message in str(errors[0]), errors


def test_student_names_that_shadow_the_expression_language_are_answers_not_errors():
    pf = load('''\
        version: 1
        problems:
          - id: p
            inputs: {x: [1.0, 2.0]}
            function: x[0]**2 * x[1]
            grading: {bind: {x: e}, function: sum}
            checks:
              - {hessian: f, answer: I}
              - {eigenvalues: f, answer: e}
              - {gradient: f, answer: exp}
        ''')
    assert not pf.errors


POINTS_NO_ANSWER = '''\
    version: 1
    problems:
      - id: p
        inputs: {x: [1.0, 2.0], t: 3.0}
        define:
          y: sum(x**2) * t
          z: t**2
        %s
        checks:
          - {value: y, answer: y}
          - {gradient: y, points: 3}
    '''


@pytest.mark.parametrize("grading, ok", [
    ("", False),
    ("grading: {function: f}", False),  # target: the last define, z
    ("grading: {function: {name: f, target: y}}", True),
    ("grading: {function: {name: f, target: z}}", False),
    ("grading: {function: {name: f, target: y, wrt: [x]}}", False),  # the check is wrt x and t
])
def test_a_check_with_points_that_cannot_be_graded_is_an_error(grading, ok):
    errors = [str(e) for e in load(POINTS_NO_ANSWER % grading).errors]
    assert (not errors) == ok, errors
    if not ok:
        assert any(":11:31:" in e and "has points but cannot be graded" in e for e in errors), errors


def test_function_target_wrt_and_points_are_validated():
    bad = load('''\
        version: 1
        problems:
          - id: p
            inputs: {x: [1.0, 2.0]}
            function: sum(log(x))
            grading: {function: {name: f, wrt: [w], points: [{x: [1.0]}], color: red}}
            checks: [{gradient: f}]
        ''').errors
    text = "\n".join(map(str, bad))
    assert "unknown key 'color'" in text and "wrt 'w' is not an input" in text
    good = load('''\
        version: 1
        problems:
          - id: p
            inputs: {x: [1.0, 2.0]}
            function: sum(log(x))
            grading: {function: {name: f, points: [{x: [1.0, 3.0]}]}}
            checks: [{gradient: f}]
        ''')
    t = good.problems[0].grading.target
    assert not good.errors and (t.name, t.target, t.wrt, t.points) == ("f", "f", ("x",), [{"x": [1.0, 3.0]}])
    wrong_shape = load(textwrap.dedent('''\
        version: 1
        problems:
          - id: p
            inputs: {x: [1.0, 2.0]}
            function: sum(log(x))
            grading: {function: {name: f, points: [{x: [1.0]}]}}
            checks: [{gradient: f}]
        ''')).errors
    assert "needs numbers of shape [2]" in str(wrong_shape[0])


# -- reading submissions ---------------------------------------------------------------------

def test_cells_are_labelled_as_jupyter_shows_them_and_headings_are_kept():
    nb = {"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# Práctica\n## Ejercicio 1: derivadas"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": 17, "source": "a = 1"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": "b = 2"},
        {"cell_type": "markdown", "metadata": {}, "source": "### una nota"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": 3, "source": "c = 3"},
        {"cell_type": "markdown", "metadata": {}, "source": "## Ejercicio 2"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": 4,
         "source": "# Ejercicio 2b\nd = 4"},
    ]}
    sub = read_text(json.dumps(nb), ".ipynb")
    assert sub.labels == ["In [17]", "In [ ] (code cell 2)", "In [3]", "In [4]"]
    assert sub.after("ejercicio 1") == 3  # a level-3 heading does not end a level-2 section
    assert sub.after("EJERCICIO 2") == 4 and sub.after("Práctica") == 4 and sub.after(2) == 2
    assert sub.after("Ejercicio 3") is None and sub.after(9) is None
    assert sub.after("ejercicio") == 4 or sub.after("ejercicio") == 3  # first best match


def test_a_notebook_that_does_not_validate_is_read_with_a_note():
    nb = {"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
        {"cell_type": "code", "source": "x = 1", "metadata": {}}]}  # no outputs, no execution_count
    sub = read_text(json.dumps(nb), ".ipynb")
    assert sub.cells == ["x = 1"] and "does not validate" in sub.notes[0]


def test_text_export_keeps_code_after_two_blank_lines_unless_it_is_printed_output():
    export = textwrap.dedent('''\
        In [1]:
        import torch
        w = torch.ones(2)
        print("w:", w)


        w: tensor([1., 1.])


        In [2]:
        def f(x):
            return x


        def g(x):
            return f(x)


        In [3]:
        print(f"loss = {1.5}")


        loss = 1.5
        ''')
    sub = read_text(export, ".txt")
    assert sub.cells == ['import torch\nw = torch.ones(2)\nprint("w:", w)',
                         "def f(x):\n    return x\n\n\ndef g(x):\n    return f(x)", 'print(f"loss = {1.5}")']


def test_scripts_without_markers_are_one_cell_and_jupytext_raw_cells_are_skipped():
    assert read_text("a = 1\n# In the text\nb = 2\n", ".py").cells == ["a = 1\n# In the text\nb = 2\n"]
    sub = read_text("# %%\na = 1\n# %% [raw]\nnot python\n# %% [markdown]\n# ## Part 2\n# %%\nb = 2\n", ".py")
    assert sub.cells == ["a = 1", "b = 2"] and sub.after("part 2") == 2


def test_the_readme_grading_key_example_loads():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("**The grading key**", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    pf = load("version: 1\nproblems:\n" + textwrap.indent(textwrap.dedent(block), "  "))
    assert not pf.errors, pf.errors
    p = pf.problems[0]
    c = p.checks[0]
    assert [a.text for a in c.answers] == ["grad_f", "x.grad", "res['grad']"] and c.search
    assert c.after == "Ejercicio 1" and p.grading.target.wrt == ("x", "t") and p.grading.bind == {"t": "my_t"}

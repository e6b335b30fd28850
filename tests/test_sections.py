"""Which code cell ``after: "<heading>"`` reads (verifier/_sections.py): red-team F3 (a code cell
labelled ``# Ejercicio 1 (corregido)`` after Ejercicio 2) and F4 (a repeated heading whose second
occurrence holds the answer), graded end to end on notebooks built with nbformat, and variants."""

from __future__ import annotations

import nbformat
import pytest
from grading_support import grade, key

from verifier._notebook import read_text
from verifier._sandbox import SandboxPool

TORCH = "import torch"
CUBE = "x = torch.tensor(2., requires_grad=True)\ny = x**3\ny.backward()\nderivada = x.grad"  # 12
SINE = "x = torch.tensor(0., requires_grad=True)\ny = torch.sin(x)\ny.backward()\nderivada = x.grad"  # 1

KEY = '''\
    version: 1
    problems:
      - id: ej1
        inputs: {x: 2.0}
        define: {y: %s}
        checks: [{gradient: y, answer: derivada, after: "%s", points: 1}]
      - id: ej2
        inputs: {x: 0.0}
        define: {y: sin(x)}
        checks: [{gradient: y, answer: derivada, after: "%s", points: 1}]
    '''


@pytest.fixture(scope="module")
def pool():
    with SandboxPool() as p:
        yield p


def build(cells: list[tuple[str, str]]) -> str:
    """An nbformat-4 notebook (validated) from ``(kind, source)`` pairs, code cells run in order."""
    nb = nbformat.v4.new_notebook()
    n = 0
    for kind, source in cells:
        if kind == "code":
            n += 1
            nb.cells.append(nbformat.v4.new_code_cell(source, execution_count=n))
        else:
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
    nbformat.validate(nb)
    return nbformat.writes(nb)


def graded(pool, tmp_path, cells, first="Ejercicio 1", second="Ejercicio 2", cube="x**3"):
    """(score, [status per check], Submission) of the notebook under the two-exercise key."""
    path = tmp_path / "entrega.ipynb"
    path.write_text(build(cells), encoding="utf-8")
    g, _, _ = grade(pool, path, key(KEY % (cube, first, second)))
    return g.score, [t["status"] for t in g.tests], read_text(path.read_text(), ".ipynb")


# -- F3: a code cell labelled with another exercise ends the section above it -------------------

N13 = [("code", TORCH),
       ("markdown", "## Ejercicio 1"), ("code", "# Completar aquí\nx = torch.tensor(2., requires_grad=True)\n"
                                                "y = x**3\nderivada = 3*x"),  # 6: wrong
       ("markdown", "## Ejercicio 2"), ("code", "# Completar aquí\n" + SINE),
       ("code", "# Ejercicio 1 (corregido)\n" + CUBE)]


def test_f3_n13_a_correction_at_the_end_counts_for_its_exercise_not_for_the_section_above(pool, tmp_path):
    # old code: 0/2, Ejercicio 2 read after the correction cell ("expected [1.], found [12.]")
    score, status, sub = graded(pool, tmp_path, N13)
    assert (sub.after("Ejercicio 1"), sub.after("Ejercicio 2")) == (4, 3)
    assert status == ["passed", "passed"] and score == 2
    # against a key whose Ejercicio 1 is x**2 (derivative 4), the corrected 12 fails: it is graded
    score, status, _ = graded(pool, tmp_path, N13, cube="x**2")
    assert status == ["failed", "passed"] and score == 1


def test_f3_n11_a_late_cell_labelled_ejercicio_1_is_the_students_last_answer_to_it(pool, tmp_path):
    # old code: ej1 passed on 12 and ej2 failed on the late 5 (credit swapped between exercises)
    cells = [("code", TORCH), ("markdown", "## Ejercicio 1"), ("code", "# Completar aquí\n" + CUBE),
             ("markdown", "## Ejercicio 2"), ("code", "# Completar aquí\n" + SINE),
             ("code", "# Ejercicio 1\nderivada = torch.tensor(5.)")]
    score, status, sub = graded(pool, tmp_path, cells)
    assert (sub.after("Ejercicio 1"), sub.after("Ejercicio 2")) == (4, 3)
    assert status == ["failed", "passed"] and score == 1


def test_f3_n12_a_paragraph_naming_another_exercise_ends_the_section_but_answers_nothing(pool, tmp_path):
    # old code: 1/2, the scratch `derivada=3` after the paragraph was read as Ejercicio 2's answer
    cells = [("code", TORCH), ("markdown", "## Ejercicio 1"), ("code", "# Completar aquí\n" + CUBE),
             ("markdown", "## Ejercicio 2"), ("code", "# Completar aquí\n" + SINE),
             ("markdown", "Ejercicio 1 lo he hecho arriba"), ("code", "derivada=3")]
    score, status, sub = graded(pool, tmp_path, cells)
    assert (sub.after("Ejercicio 1"), sub.after("Ejercicio 2")) == (2, 3)
    assert status == ["passed", "passed"] and score == 2


VARIANT_F3 = [("markdown", "# Lab 3"), ("code", TORCH),
              ("markdown", "### Exercise 1: the cube"), ("code", "derivada = None  # TODO"),
              ("markdown", "### Exercise 2: the sine"), ("code", SINE),
              ("code", "print(derivada)"),
              ("code", "# exercise 1 - fixed after the deadline\n" + CUBE),
              ("code", "derivada = derivada.double()")]


def test_f3_variant_english_level_3_headings_and_a_fix_two_cells_long(pool, tmp_path):
    score, status, sub = graded(pool, tmp_path, VARIANT_F3, "Exercise 1", "exercise 2: the sine")
    assert (sub.after("Exercise 1"), sub.after("Exercise 2")) == (6, 4)  # the fix runs to the end
    assert status == ["passed", "passed"] and score == 2
    score, status, _ = graded(pool, tmp_path, VARIANT_F3, "Exercise 1", "Exercise 2", cube="x**4")
    assert status == ["failed", "passed"] and score == 1


def test_f3_variant_comment_headings_only_and_a_wrong_correction_is_graded_wrong(pool, tmp_path):
    cells = [("code", TORCH), ("code", "# Problema 1\n" + CUBE), ("code", "# Problema 2\n" + SINE),
             ("code", "# problema 1, otra vez\nderivada = torch.tensor(11.)")]
    score, status, sub = graded(pool, tmp_path, cells, "Problema 1", "Problema 2")
    assert (sub.after("Problema 1"), sub.after("Problema 2")) == (4, 3)
    assert status == ["failed", "passed"] and score == 1


def test_sub_items_mentions_and_other_series_do_not_end_a_section():
    sub = read_text(build([
        ("markdown", "## Ejercicio 1"), ("code", "z = 0"),
        ("markdown", "## Ejercicio 2"), ("code", "a = 1"),
        ("code", "# Ejercicio 2.1\nb = 2"),           # a sub-item of the section
        ("code", "# como en el ejercicio 1\nc = 3"),  # a mention, not a label: no correction
        ("code", "# Parte 1\nd = 4"),                 # another series
        ("markdown", "**Ejercicio 3** es opcional"), ("code", "e = 5")]), ".ipynb")
    assert sub.after("Ejercicio 1") == 1 and sub.after("Ejercicio 2") == 5
    assert sub.after("Ejercicio 2.1") == 5 and sub.after("Parte 1") == 5 and sub.after("Ejercicio 3") == 6


# -- F4: a repeated heading: the occurrence that holds the answer ---------------------------------

N14 = [("code", TORCH), ("markdown", "## Ejercicio 1"), ("code", "# Completar aquí\n"),
       ("markdown", "## Ejercicio 2"), ("code", "# Completar aquí\n" + SINE),
       ("markdown", "## Ejercicio 1"), ("code", "# Completar aquí\n" + CUBE)]


def test_f4_n14_the_answer_under_the_second_copy_of_a_heading_is_graded(pool, tmp_path):
    # old code: 1/2, "variable 'derivada' was not found after your code ran" for Ejercicio 1
    score, status, sub = graded(pool, tmp_path, N14)
    assert (sub.after("Ejercicio 1"), sub.after("Ejercicio 2")) == (4, 3)
    assert status == ["passed", "passed"] and score == 2
    score, status, _ = graded(pool, tmp_path, N14, cube="x**2")
    assert status == ["failed", "passed"] and score == 1


def test_f4_variant_level_3_english_both_copies_with_code_the_last_one_counts(pool, tmp_path):
    cells = [("code", TORCH), ("markdown", "### Exercise 1"), ("code", "x = torch.tensor(2., requires_grad=True)"),
             ("markdown", "### Exercise 2"), ("code", SINE),
             ("markdown", "### Exercise 1 (second try)"), ("code", "pass"), ("code", CUBE)]
    score, status, sub = graded(pool, tmp_path, cells, "Exercise 1", "Exercise 2")
    assert (sub.after("Exercise 1"), sub.after("Exercise 2")) == (5, 3)
    assert status == ["passed", "passed"] and score == 2


def test_f4_variant_a_copy_without_code_or_a_sub_item_heading_is_not_the_answer():
    sub = read_text(build([
        ("markdown", "## Ejercicio 1"), ("code", "a = 1"),
        ("markdown", "## Ejercicio 1.2"), ("code", "b = 2"),     # another item, not a repeat
        ("markdown", "## Ejercicio 1"), ("code", "# nada\npass"), ("code", "print(a)"),  # a copy with no answer
        ("markdown", "## Ejercicio 2"), ("code", "c = 3")]), ".ipynb")
    assert sub.after("Ejercicio 1") == 1 and sub.after("Ejercicio 1.2") == 2 and sub.after("Ejercicio 2") == 5


def test_f3_variant_a_comment_naming_another_series_of_the_handout_ends_the_section(pool, tmp_path):
    cells = [("code", TORCH), ("markdown", "## Pregunta 2"), ("code", "# Completar\n" + SINE),
             ("markdown", "## Ejercicio 1"), ("code", "derivada = torch.tensor(6.)"),
             ("code", "# Pregunta 2 (repaso)\nprint('ya hecha')"),  # no new answer: 1 stays
             ("code", "# Ejercicio 1 bis\n" + CUBE)]
    score, status, sub = graded(pool, tmp_path, cells, "Ejercicio 1", "Pregunta 2")
    assert (sub.after("Ejercicio 1"), sub.after("Pregunta 2")) == (5, 2)  # a bare print answers nothing
    assert status == ["passed", "passed"] and score == 2
    assert read_text(build(cells[:6]), ".ipynb").after("Ejercicio 1") == 3  # "# Pregunta 2" ends it
    assert read_text(build(cells[:5] + [("code", "# Pregunta 9\nz = 1")]), ".ipynb").after("Ejercicio 1") == 4


def test_the_same_rules_in_a_jupytext_script_and_an_nbconvert_script():
    jupytext = ("# %% [markdown]\n# ## Ejercicio 1\n# %%\nd = 6\n# %% [markdown]\n# ## Ejercicio 2\n"
                "# %%\nd = 1\n# %%\n# Ejercicio 1 (corregido)\nd = 12\n")
    nbconvert = ("# ## Ejercicio 1\n\n# In[1]:\n\n\nd = 6\n\n\n# ## Ejercicio 2\n\n# In[2]:\n\n\nd = 1\n\n\n"
                 "# In[3]:\n\n\n# Ejercicio 1 (corregido)\nd = 12\n")
    for text in (jupytext, nbconvert):
        sub = read_text(text, ".py")
        assert len(sub.cells) == 3 and (sub.after("Ejercicio 1"), sub.after("Ejercicio 2")) == (3, 2)

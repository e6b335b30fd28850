"""The strict problem-file schema: every error with file:line:col, all at once."""

from __future__ import annotations

import textwrap

import pytest

from verifier import ProblemSpecError
from verifier._spec import loads


def errors_of(text: str) -> list[str]:
    """All diagnostics of a file, file-level or per problem, as strings."""
    try:
        pf = loads(textwrap.dedent(text), "p.yaml")
    except ProblemSpecError as exc:
        return [str(d) for d in exc.diagnostics]
    return [str(d) for d in pf.errors]


GOOD = """
version: 1
problems:
  - id: a
    inputs: {x: [1, 2]}
    function: x[0]**2
    checks: [{gradient: f}]
"""


def test_a_valid_file_loads_without_errors():
    assert errors_of(GOOD) == []


def test_scientific_notation_is_read_as_a_number():
    pf = loads(textwrap.dedent("""
        version: 1
        defaults: {tolerance: {rtol: 1e-6, atol: 1E-9}}
        problems:
          - id: a
            inputs: {x: 1e-3}
            function: x
            checks: [{value: f}]
    """))
    assert pf.problems[0].tolerance == {"rtol": 1e-6, "atol": 1e-9}


def test_a_misspelled_problem_key_suggests_the_right_one():
    assert "p.yaml:6:5: unknown key 'fucntion' in problem; did you mean 'function'?" in errors_of(
        GOOD.replace("function:", "fucntion:"))


def test_a_misspelled_check_kind_suggests_the_right_one():
    errs = errors_of(GOOD.replace("gradient", "gradeint"))
    assert errs == ["p.yaml:7:15: unknown check kind 'gradeint'; did you mean 'gradient'? "
                    "(kinds: value, gradient, jacobian, hessian, eigenvalues, hvp)"]


def test_duplicate_keys_are_rejected_with_both_lines():
    errs = errors_of(GOOD.replace("    function: x[0]**2\n", "    function: x[0]**2\n    function: x[1]\n"))
    assert errs == ["p.yaml:7:5: duplicate key 'function' (first defined at line 6)"]


def test_yaml_tags_are_refused():
    errs = errors_of("version: 1\nproblems: !!python/object/apply:os.system ['echo pwned']\n")
    assert errs == ["p.yaml:2:11: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not "
                    "allowed: problem files hold plain data only"]


def test_anchors_and_aliases_are_refused():
    errs = errors_of("version: 1\ndefaults: &d {dtype: float64}\nother: *d\nproblems: []\n")
    assert errs[0] == "p.yaml:2:11: YAML anchor '&d' is not allowed; write the value out in full"
    assert errs[1] == "p.yaml:3:8: YAML alias '*d' is not allowed; write the value out in full"


def test_broken_yaml_is_reported_with_its_position():
    (err,) = errors_of("version: 1\nproblems: [\n")
    # libyaml and the pure-Python parser word it differently; the position is the same.
    assert err in ("p.yaml:3:1: invalid YAML: did not find expected node content",
                   "p.yaml:3:1: invalid YAML: expected the node content, but found '<stream end>'")


def test_an_unknown_version_is_a_clear_error():
    assert errors_of("version: 2\nproblems: []\n") == [
        "p.yaml:1:10: unsupported version 2; this verifier reads version 1"]


def test_an_unknown_dtype_is_a_clear_error():
    errs = errors_of(GOOD.replace("    function:", "    dtype: float16x\n    function:"))
    assert errs == ["p.yaml:6:12: unknown dtype 'float16x'; did you mean 'float64'? (dtypes: float64, float32)"]


def test_an_unknown_mode_is_a_clear_error():
    errs = errors_of(GOOD.replace("{gradient: f}", "{gradient: f, modes: [jacrevv]}"))
    assert errs == ["p.yaml:7:36: unknown mode 'jacrevv'; did you mean 'jacrev'? "
                    "(modes: backward, functional, jacrev, jacfwd, hessian_fwdrev)"]


def test_every_error_of_a_file_is_reported_together():
    text = GOOD + """
  - id: b
    inputs: {x: 1}
    fucntion: x
    checks: [{hesian: f}]
  - id: Bad Id
    inputs: {x: 1}
    function: x^2
    checks: [{value: f}]
"""
    errs = errors_of(text)
    assert len(errs) == 5
    assert any("did you mean 'hessian'" in e for e in errs)
    assert any("use ** for powers" in e for e in errs)
    assert any("id 'Bad Id' must match" in e for e in errs)


def test_a_bad_problem_does_not_stop_the_good_ones():
    pf = loads(textwrap.dedent(GOOD + """
  - id: b
    inputs: {x: 1}
    function: x^2
    checks: [{value: f}]
"""), "p.yaml")
    assert [bool(p.errors) for p in pf.problems] == [False, True]


def test_duplicate_problem_ids_are_an_error():
    errs = errors_of(GOOD + GOOD.split("problems:\n")[1])
    assert errs == ["p.yaml:8:9: duplicate problem id 'a' (first at line 4)"]


def test_generators_follow_the_contract():
    pf = loads(textwrap.dedent("""
        version: 1
        problems:
          - id: a
            inputs:
              w: {random: uniform, shape: [4, 3], seed: 0}
              v: {random: normal, shape: [3], seed: 7, mean: 1, std: 2}
              b: {fill: 1, shape: [3]}
            function: sum(w @ v + b)
            checks: [{value: f}]
    """))
    inputs = pf.problems[0].inputs
    assert inputs["w"].generator == {"kind": "random", "shape": (4, 3), "dist": "uniform", "seed": 0,
                                     "low": 0.0, "high": 1.0}
    assert inputs["v"].generator["mean"] == 1.0 and inputs["v"].generator["std"] == 2.0
    assert inputs["b"].generator == {"kind": "fill", "shape": (3,), "fill": 1.0}


def test_a_generator_parameter_of_the_other_distribution_is_an_error():
    errs = errors_of(GOOD.replace("{x: [1, 2]}", "{x: {random: normal, shape: [2], low: 0}}"))
    assert errs == ["p.yaml:5:46: 'low' does not apply to random: normal"]


def test_wrt_must_name_an_input_or_intermediate():
    errs = errors_of(GOOD.replace("{gradient: f}", "{gradient: f, wrt: z}"))
    assert errs == ["p.yaml:7:33: wrt 'z' is not an input or defined intermediate"]


def test_ragged_lists_are_rejected():
    errs = errors_of(GOOD.replace("[1, 2]", "[[1, 2], [3]]"))
    assert errs == ["p.yaml:5:17: 'x' is a ragged or empty list; arrays must be rectangular"]


def test_check_names_are_unique_and_readable():
    pf = loads(textwrap.dedent("""
        version: 1
        problems:
          - id: a
            inputs: {x: 1.0, y: 2.0}
            function: x*y
            checks: [{gradient: f, wrt: x}, {gradient: f, wrt: y}, {hessian: f}]
    """))
    assert [c.name for c in pf.problems[0].checks] == ["gradient[f wrt x]", "gradient[f wrt y]", "hessian[f]"]


@pytest.mark.parametrize("key", ["inputs", "checks"])
def test_a_problem_without_required_keys_says_what_is_missing(key):
    text = "\n".join(ln for ln in GOOD.splitlines() if not ln.strip().startswith(key))
    assert any(key in e for e in errors_of(text))


DEEP = [
    "problems: " + "[" * 100_000 + "]" * 100_000,
    "problems:\n  - " + "- " * 100_000 + "x",
    "problems:\n  - {id: a, inputs: {x: " + "[" * 5000 + "1" + "]" * 5000 + "}}",
    "problems: " + "[" * 65 + "]" * 65,
    "problems: " + "{a: " * 999 + "1" + "}" * 999,
]


@pytest.mark.parametrize("body", DEEP)
@pytest.mark.parametrize("loader", ["CSafeLoader", "SafeLoader"])
def test_deeply_nested_yaml_gets_our_message_whatever_the_pyyaml(body, loader, monkeypatch):
    """libyaml (PyYAML >= 6.0.2) stops at 1000 levels with its own words; ours come first, the
    same with the C and the pure-Python parser, at the 65th level."""
    import yaml

    from verifier import _yamlload

    if not hasattr(yaml, loader):
        pytest.skip(f"this PyYAML has no {loader}")
    monkeypatch.setattr(_yamlload, "_Loader", getattr(yaml, loader))
    (err,) = errors_of("version: 1\n" + body + "\n")
    assert "YAML is nested too deeply (limit 64 levels)" in err
    line, col = map(int, err.split(":")[1:3])
    assert line in (2, 3) and col <= 300  # the 65th opening, not where libyaml gives up (level 1000)


def test_libyaml_own_nesting_error_is_not_what_users_see(monkeypatch):
    """Whatever a PyYAML version says about depth, the diagnostic is ours (simulated here)."""
    import yaml

    from verifier import _yamlload

    real = _yamlload._scan

    def libyaml_like(text, file, loader):
        if loader is not yaml.SafeLoader:
            raise yaml.scanner.ScannerError("while increasing flow level", None,
                                            "exceeded maximum nesting depth", yaml.Mark("f", 0, 0, 1003, "", 0))
        return real(text, file, loader)

    monkeypatch.setattr(_yamlload, "_scan", libyaml_like)
    monkeypatch.setattr(_yamlload, "_Loader", object())
    (err,) = errors_of("version: 1\nproblems: " + "[" * 2000 + "]" * 2000 + "\n")
    assert err == "p.yaml:2:74: YAML is nested too deeply (limit 64 levels)"  # the top mapping is level 1


@pytest.mark.parametrize("text, where, words", [
    ("version: 1\nproblems: []\n---\nversion: 1\n", "3:1", "a second YAML document"),
    ("version: 1\nproblems: []\n...\n---\n", "4:1", "a second YAML document"),
    ("version: 1\nproblems: [{id: a, inputs: {x: [1]}, function: x, checks: [{value: f, "
     "tolerance: {atol: " + "9" * 4001 + "}}]}]\n", "2:89", "integer is too long (4001 digits, limit 4000)"),
    ("version: " + "1" * 4500 + "\nproblems: []\n", "1:10", "integer is too long (4500 digits"),
    ("version: 1\nproblems: []\ndefaults: {tags: [1, -" + "9" * 4400 + "]}\n", "3:22",
     "integer is too long (4400 digits"),
])
def test_yaml_level_errors_are_positioned(text, where, words):
    errs = errors_of(text)
    assert any(e.startswith(f"p.yaml:{where}: {words}") for e in errs), errs


def test_a_refused_number_is_reported_once_and_the_other_problems_load():
    pf = loads("version: 1\nproblems:\n"
               "  - {id: a, inputs: {x: [1]}, function: x, checks: [{value: f, tolerance: {atol: "
               + "7" * 5000 + "}}]}\n"
               "  - {id: b, inputs: {x: [1]}, function: x, checks: [{value: f}]}\n", "p.yaml")
    a, b = pf.problems
    assert [d.message for d in a.errors] == ["integer is too long (5000 digits, limit 4000)"]
    assert b.errors == []


def test_an_oversized_file_is_refused():
    (err,) = errors_of("version: 1\n#" + "x" * 20_000_001 + "\nproblems: []\n")
    assert err.startswith("p.yaml:1:1: file is too large")

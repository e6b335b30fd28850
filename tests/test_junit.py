"""JUnit output validates against the Jenkins xUnit junit-10.xsd (pytest's xunit2 family) and
its counts match its testcases."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from verifier.cli import main

xmlschema = pytest.importorskip("xmlschema")
XSD = Path(__file__).resolve().parent / "data" / "junit-10.xsd"

MIXED = """
version: 1
problems:
  - id: good
    inputs: {x: [2.0, 3.0]}
    function: x[0]**2 * x[1]
    checks: [{gradient: f, expect: [12, 4]}, {hessian: f}]
  - id: wrong
    inputs: {x: 2.0}
    function: x**3
    checks: [{gradient: f, expect: 13}]
  - id: kink
    inputs: {x: 0.0}
    function: abs(x)
    checks: [{gradient: f}]
  - id: broken
    inputs: {x: 1.0}
    function: x ^ 2
    checks: [{gradient: f}]
  - id: known
    xfail: expect is wrong on purpose
    inputs: {x: 2.0}
    function: x**2
    checks: [{gradient: f, expect: 5}]
"""


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(XSD))


def _junit(tmp_path: Path, files: list[Path]) -> tuple[int, str]:
    out = tmp_path / "report.xml"
    code = main(["run", *map(str, files), "--format", "junit", "-o", str(out)])
    return code, out.read_text(encoding="utf-8")


def test_junit_validates_and_its_counts_match_its_testcases(tmp_path, schema):
    bank = tmp_path / "mixed.yaml"
    bank.write_text(textwrap.dedent(MIXED))
    unreadable = tmp_path / "broken.yaml"
    unreadable.write_text("version: 1\nproblemz: []\n")
    code, text = _junit(tmp_path, [bank, unreadable])
    assert code == 2
    schema.validate(text)
    suite = ET.fromstring(text)
    cases = suite.findall("testcase")
    names = [(c.get("classname"), c.get("name")) for c in cases]
    assert names == [(str(unreadable), "load"), ("good", "gradient[f]"), ("good", "hessian[f]"),
                     ("wrong", "gradient[f]"), ("kink", "gradient[f]"), ("broken", "load"),
                     ("known", "gradient[f]")]

    def count(tag: str) -> int:
        return sum(1 for c in cases if c.find(tag) is not None)
    assert suite.get("tests") == str(len(cases)) == "7"
    assert suite.get("failures") == str(count("failure")) == "1"
    assert suite.get("errors") == str(count("error")) == "2"   # both load errors are counted
    assert suite.get("skipped") == str(count("skipped")) == "2"  # the kink and the xfail
    by_name = dict(zip(names, cases))
    assert by_name[("kink", "gradient[f]")].find("skipped").get("message").startswith("not differentiable")
    assert by_name[("known", "gradient[f]")].find("skipped").get("message") == "xfail: expect is wrong on purpose"
    assert "unknown key 'problemz'" in by_name[(str(unreadable), "load")].find("error").get("message")
    assert "'^' is not a power here" in by_name[("broken", "load")].find("error").get("message")
    for case in cases:  # every testcase has its time; checks that ran took some
        assert float(case.get("time")) >= 0.0
    assert float(by_name[("good", "hessian[f]")].get("time")) > 0.0


def test_the_schema_rejects_what_ci_would_not_read(schema):
    # The test above can fail: the vendored schema rejects a testcase without a name, a
    # file/line attribute on a testcase (what the report wrote before), and a bad time.
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate('<testsuite name="v" tests="1" failures="0" errors="0">'
                        '<testcase classname="a"/></testsuite>')
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate('<testsuite name="v" tests="1" failures="0" errors="0">'
                        '<testcase name="a" file="p.yaml" line="3"/></testsuite>')
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate('<testsuite name="v" tests="0" failures="0" errors="0" time="1e-3"/>')


def test_junit_of_the_bundled_bank_validates(tmp_path, schema):
    code, text = _junit(tmp_path, [])
    assert code == 0
    schema.validate(text)
    suite = ET.fromstring(text)
    assert suite.get("tests") == str(len(suite.findall("testcase")))
    assert suite.get("failures") == suite.get("errors") == "0"

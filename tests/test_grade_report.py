"""report.html: one static page with a score histogram, pass rates and links to feedback,
checked in headless Chromium (skipped only where Chromium is not installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from verifier._grade_report import report_page
from verifier.cli import main

KEY = """version: 1
problems:
  - id: sq
    inputs: {x: 3.0}
    define: {y: x**2}
    checks:
      - {value: y, answer: v, points: 1}
      - {gradient: y, answer: g, points: 3}
"""
STUDENTS = {  # score out of 4
    "ana.py": ("v = 9.0\ng = 6.0\n", 4),
    "bo.py": ("v = 9.0\ng = 12.0\n", 1),
    "cy.py": ("v = 9.0\ng = 6.0\n", 4),
    "<img src=x onerror=alert(1)>.py": ("v = 1.0\ng = 6.0\n", 3),
    "dee.py": ("raise SystemExit\n", 0),
}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    key = tmp / "key.yaml"
    key.write_text(KEY)
    subs = tmp / "subs"
    subs.mkdir()
    for name, (text, _) in STUDENTS.items():
        (subs / name).write_text(text)
    out = tmp / "out"
    assert main(["grade", str(subs), "--problems", str(key), "--out", str(out),
                 "--timeout", "120", "--cell-timeout", "60"]) == 0
    return out / "report.html"


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        d = dict(attrs)
        if tag == "a":
            self.hrefs.append(d["href"])
        if "src" in d:
            self.srcs.append(d["src"])


def test_report_is_static_and_links_every_student_to_their_feedback(report):
    html = report.read_text()
    page = Links()
    page.feed(html)
    assert page.srcs == [] and not {"script", "img", "link"} & page.tags  # nothing to load
    assert len(page.hrefs) == len(STUDENTS)
    for href in page.hrefs:
        target = report.parent / href.replace("%3C", "<").replace("%3E", ">")
        assert target.name == "feedback.html" and target.is_file(), href
    assert "&lt;img src=x onerror=alert(1)&gt;.py" in html


def test_histogram_and_pass_rates_match_the_gradebook(report):
    html = report.read_text()
    counts = {int(b): int(n) for b, n in re.findall(r'data-bin="(\d+)" data-count="(\d+)"', html)}
    assert counts == {0: 1, 1: 0, 2: 1, 3: 0, 4: 0, 5: 0, 6: 0, 7: 1, 8: 0, 9: 2}  # 0, 1/4, 3/4, 4/4, 4/4
    rates = dict(re.findall(r'data-check="([^"]+)" data-rate="([0-9.]+)"', html))
    by_answer = {name.rsplit(" ", 1)[-1]: rate for name, rate in rates.items()}
    assert by_answer == {"(v)": "0.6000", "(g)": "0.6000"}  # 3 of 5 for each check


def test_report_page_escapes_and_handles_an_empty_gradebook():
    html = report_page({}, {})
    assert "0 submissions" in html and "<svg" in html
    row = {"submission": "x", "path": "x", "sha256": "", "score": "1", "max_score": "2",
           "status": "ok", "seconds": "0.1"}
    html = report_page({"a&b\"<i>": row}, {"a&b\"<i>": [{"name": "<b>c</b>", "status": "passed"}]})
    assert "<i>" not in html and "<b>c</b>" not in html and "&lt;b&gt;c&lt;/b&gt;" in html


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    dom = _chromium("--dump-dom", report.as_uri(), tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    assert "<h1>Grading report</h1>" in text
    assert text.count('class="bin"') == 10 and text.count('class="rate"') == 2
    assert len(re.findall(r'<a href="[^"]+/feedback\.html">', text)) == len(STUDENTS)
    assert "5 submissions; mean score 60.0%" in text
    shot = tmp_path / "report.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1000,1100", report.as_uri(), tmp=tmp_path)
    assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A student's feedback page opens from the report's link.
    feedback = report.parent / "ana" / "feedback.html"
    page = _chromium("--dump-dom", feedback.as_uri(), tmp=tmp_path)
    assert "Score: <b>4 / 4</b>" in page.stdout

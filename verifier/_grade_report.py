"""Static HTML for the instructor: ``--out/report.html`` and one ``feedback.html`` per student.

Each page is a single self-contained file: inline CSS, charts as inline SVG, no script and
no network access. Every text that comes from a submission (its path, error messages,
printed output quoted in feedback) is HTML-escaped.
"""

from __future__ import annotations

import json
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

_CSS = """body{font-family:sans-serif;margin:2em;color:#222;max-width:70em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f0f0f0}.num{text-align:right}.passed{color:#17643a}.failed{color:#a11}
pre{white-space:pre-wrap;background:#f7f7f7;padding:.5em;margin:0}svg text{font-size:12px}"""
BINS = 10


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")


def feedback_page(identity: str, doc: dict[str, Any]) -> str:
    """One student's feedback (a ``results.json`` document) as HTML."""
    rows = "".join(
        f'<tr class="{escape(str(t.get("status", "")))}"><td>{escape(str(t.get("name", "")))}</td>'
        f'<td class="num">{_num(t.get("score"))} / {_num(t.get("max_score"))}</td>'
        f'<td>{escape(str(t.get("status", "")))}</td><td><pre>{escape(str(t.get("output", "")))}</pre></td></tr>'
        for t in doc.get("tests", []))
    output = doc.get("output") or ""
    body = (f"<h1>Feedback: {escape(identity)}</h1>"
            f'<p id="score">Score: <b>{_num(doc.get("score"))} / {_num(doc.get("max_score"))}</b></p>'
            + (f"<pre>{escape(str(output))}</pre>" if output else "")
            + "<table><tr><th>check</th><th>points</th><th>status</th><th>feedback</th></tr>"
            f"{rows}</table>")
    return _page(f"Feedback: {identity}", body)


def write_report(out: Path, rows: dict[str, dict[str, str]]) -> Path:
    """Write ``out/report.html`` for every row of the gradebook; returns its path."""
    tests = {ident: _tests(out / row["submission"] / "results.json") for ident, row in rows.items()}
    path = out / "report.html"
    tmp = out / ".report.html.tmp"
    tmp.write_text(report_page(rows, tests), encoding="utf-8", newline="\n")
    tmp.replace(path)
    return path


def _tests(path: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    tests = doc.get("tests") if type(doc) is dict else None
    return [t for t in tests if type(t) is dict] if type(tests) is list else []


def report_page(rows: dict[str, dict[str, str]], tests: dict[str, list[dict[str, Any]]]) -> str:
    """The instructor's page: histogram, pass rate per check, and the table of students."""
    fractions = [_fraction(r) for r in rows.values()]
    statuses = Counter(r["status"] for r in rows.values())
    rates: dict[str, list[bool]] = {}
    for ident in sorted(tests):
        for t in tests[ident]:
            rates.setdefault(str(t.get("name", "?")), []).append(t.get("status") == "passed")
    table = "".join(
        f'<tr><td><a href="{quote(r["submission"])}/feedback.html">{escape(ident)}</a></td>'
        f'<td class="num">{escape(r["score"])}</td><td class="num">{escape(r["max_score"])}</td>'
        f'<td>{escape(r["status"])}</td><td class="num">{escape(r["seconds"])}</td></tr>'
        for ident, r in sorted(rows.items()))
    mean = sum(fractions) / len(fractions) if fractions else 0.0
    body = (f"<h1>Grading report</h1><p id=\"overview\">{len(rows)} submissions; mean score "
            f"{100 * mean:.1f}%; " + ", ".join(f"{escape(k)} {v}" for k, v in sorted(statuses.items()))
            + "</p><h2>Score histogram</h2>" + histogram_svg(fractions)
            + "<h2>Pass rate per check</h2>" + pass_rate_svg(rates)
            + '<h2>Students</h2><table id="students"><tr><th>submission</th><th>score</th><th>max</th>'
            f"<th>status</th><th>seconds</th></tr>{table}</table>")
    return _page("Grading report", body)


def histogram_svg(fractions: list[float]) -> str:
    """Bars for the number of submissions per 10 % of the maximum score."""
    counts = Counter(min(int(BINS * f), BINS - 1) for f in fractions)
    top = max(counts.values(), default=0) or 1
    w, h, bar = 520, 220, 44
    parts = [f'<svg id="histogram" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 60}" '
             f'role="img" aria-label="score histogram"><g transform="translate(0,20)">']
    for b in range(BINS):
        n = counts.get(b, 0)
        height = round(h * n / top)
        x = 20 + b * (bar + 6)
        parts.append(f'<rect class="bin" data-bin="{b}" data-count="{n}" x="{x}" y="{h - height}" '
                     f'width="{bar}" height="{height}" fill="#4a7bd0"><title>{10 * b}-{10 * b + 10}%: '
                     f"{n}</title></rect>")
        parts.append(f'<text x="{x + bar / 2}" y="{h + 15}" text-anchor="middle">{10 * b}%</text>')
        if n:
            parts.append(f'<text x="{x + bar / 2}" y="{h - height - 4}" text-anchor="middle">{n}</text>')
    parts.append(f'<line x1="15" y1="{h}" x2="{w}" y2="{h}" stroke="#444"/>'
                 f'<text x="{w / 2}" y="{h + 34}" text-anchor="middle">score (% of the maximum; '
                 "bar height: number of submissions)</text></g></svg>")
    return "".join(parts)


def pass_rate_svg(rates: dict[str, list[bool]]) -> str:
    """One horizontal bar per check: the share of submissions that passed it."""
    row, width = 24, 300
    label_w = 20 + 7 * max((len(n) for n in rates), default=10)
    parts = [f'<svg id="pass-rates" xmlns="http://www.w3.org/2000/svg" width="{label_w + width + 80}" '
             f'height="{row * len(rates) + 10}" role="img" aria-label="pass rate per check">']
    for i, (name, oks) in enumerate(rates.items()):
        rate = sum(oks) / len(oks)
        y = 5 + i * row
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(name)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{width}" height="{row - 6}" fill="#eee"/>'
                     f'<rect class="rate" data-check="{escape(name)}" data-rate="{rate:.4f}" x="{label_w}" '
                     f'y="{y}" width="{round(width * rate)}" height="{row - 6}" fill="#2e9d5b"/>'
                     f'<text x="{label_w + width + 6}" y="{y + 15}">{100 * rate:.0f}%</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fraction(row: dict[str, str]) -> float:
    try:
        score, top = float(row["score"]), float(row["max_score"])
    except (KeyError, ValueError):
        return 0.0
    return min(max(score / top, 0.0), 1.0) if top > 0 else 0.0


def _num(value: Any) -> str:
    return f"{value:g}" if type(value) in (int, float) else escape(str(value))

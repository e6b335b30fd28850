"""Hostile and broken problem files: each is refused with its position and exit code 2.

Each file in tests/bad/ states what its diagnostics must say and where (see its README);
line and column must match exactly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from verifier.cli import main

BAD = Path(__file__).parent / "bad"
FILES = sorted(BAD.glob("*.yaml"))


def expectations(path: Path) -> list[tuple[list[str], int, int]]:
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r"# expect: (.*) @ (\d+):(\d+)", line)
        if m:
            out.append(([w.strip().lower() for w in m.group(1).split(", ")], int(m.group(2)), int(m.group(3))))
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_a_bad_file_is_reported_with_position_and_exit_2(path, capsys):
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    diags = [ln for ln in err.splitlines() if ln.startswith(str(path))]
    for words, line, col in expectations(path):
        hits = [d for d in diags if d.startswith(f"{path}:{line}:")
                and all(w in d.lower() for w in words)]
        assert hits, f"no diagnostic at line {line} with {words} in:\n{err}"
        got_col = int(hits[0].split(":")[2])
        assert got_col == col, hits[0]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_nothing_from_a_bad_file_is_executed(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["run", str(path), "--format", "json"])
    assert code == 2
    assert "pwned" not in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_good_problems_beside_bad_ones_still_run(capsys):
    path = BAD / "two_bad_one_good.yaml"
    runnable = [ln.split(":", 1)[1].strip() for ln in path.read_text().splitlines()
                if ln.startswith("# runnable:")]
    assert main(["run", str(path)]) == 2
    out = capsys.readouterr().out
    for pid in runnable:
        assert re.search(rf"PASS\s+{pid}\b", out), out

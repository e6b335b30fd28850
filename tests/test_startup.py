"""The collector pause of verifier's own processes (``_startup``): it turns collection back on,
leaves a caller's settings alone, and changes no result of ``verifier run``."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from verifier import _startup

BANK = Path(__file__).resolve().parent.parent / "verifier" / "problems.yaml"


def test_pause_then_resume_freezes_and_collects_again():
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        _startup.pause()
        assert not gc.isenabled()
        _startup.resume()
        assert gc.isenabled()
        assert gc.get_freeze_count() > frozen
        _startup.resume()  # a second resume does nothing
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


def test_a_collector_the_caller_turned_off_stays_off_and_nothing_is_frozen():
    gc.disable()
    frozen = gc.get_freeze_count()
    try:
        _startup.pause()
        _startup.resume()
        assert not gc.isenabled()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.enable()


def test_a_library_call_of_the_cli_main_never_pauses_the_collector(tmp_path):
    from verifier.cli import main

    assert main(["schema"]) == 0
    assert gc.isenabled()


_RUN = """
import gc, json, sys
from verifier import _startup, cli
states = []
_resume = _startup.resume
def resume():
    states.append(gc.isenabled())
    _resume()
_startup.resume = resume
args = ["run", sys.argv[1], "--format", "json"]
if sys.argv[2] == "process":
    sys.argv = ["verifier", *args]
    code = cli.main()
else:
    code = cli.main(args)
print(json.dumps({"code": code, "collector_was_paused": states[:1] == [False], "enabled": gc.isenabled()}))
"""


def _run(mode: str) -> tuple[dict, dict]:
    proc = subprocess.run([sys.executable, "-c", _RUN, str(BANK), mode], capture_output=True, text=True,
                          timeout=600, check=False)
    report, _, status = proc.stdout.strip().rpartition("\n")
    return json.loads(report), json.loads(status)


def _without_timing(doc: object) -> object:
    if isinstance(doc, dict):
        return {k: _without_timing(v) for k, v in doc.items() if k != "seconds"}
    if isinstance(doc, list):
        return [_without_timing(v) for v in doc]
    return doc


def test_the_bundled_bank_gives_bit_identical_results_with_the_collector_paused():
    paused, paused_state = _run("process")
    plain, plain_state = _run("library")
    assert paused_state == {"code": 0, "collector_was_paused": True, "enabled": True}
    assert plain_state == {"code": 0, "collector_was_paused": False, "enabled": True}
    assert sum(len(p["checks"]) for p in plain["problems"]) > 100
    # every reference, error and verdict, compared as the JSON report writes them (repr of floats)
    assert _without_timing(paused) == _without_timing(plain)

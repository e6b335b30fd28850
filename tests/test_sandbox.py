"""The sandbox runs untrusted submissions and returns plain numbers."""

from __future__ import annotations

import csv
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from verifier._notebook import NotASubmission, notebook_cells, read_submission, split_text_export
from verifier._sandbox import (
    FunctionRequest,
    Request,
    SandboxPool,
    SubmissionOutput,
    _answer,
    run_submission,
)

HERE = Path(__file__).resolve().parent
SUBMISSIONS = HERE / "submissions"
SEED = HERE.parent / "examples" / "seed" / "practica5.ipynb"
SEED_NAMES = ["grad_f", "hess_f", "eigenvalues", "tensor_w", "tensor_y", "tensor_loss",
              "tensor_dloss_dy", "tensor_dloss_dx", "dy_dx"]
# Generous clocks: no outcome below may depend on how loaded the machine is. Tests about
# timeouts set a short limit that only a submission that never ends can reach.
FAST = {"timeout": 120.0, "cell_timeout": 60.0, "memory_mb": 512}


@pytest.fixture(scope="module")
def pool():
    with SandboxPool() as p:
        yield p


def run(pool: SandboxPool, name: str, names=(), functions=(), **limits) -> SubmissionOutput:
    path = name if Path(name).is_absolute() else SUBMISSIONS / name
    return pool.run(path, Request(list(names), list(functions)), **{**FAST, **limits})


def data(out: SubmissionOutput, name: str) -> list[float]:
    answer = out.values[name]
    assert "data" in answer, answer
    return answer["data"]


def isolated(out: SubmissionOutput) -> bool:
    return not any(n.startswith("sandbox:") for n in out.notes)


# -- the seed notebook ----------------------------------------------------------------------

def test_seed_notebook_reports_gradient_hessian_and_eigenvalues(pool):
    out = run(pool, str(SEED), SEED_NAMES)
    assert out.status == "ok", out.notes
    assert [c.ok for c in out.cells] == [True] * 7
    assert out.values["grad_f"] == {"shape": [2], "dtype": "float32", "data": [24.0, 4.0]}
    assert out.values["hess_f"] == {"shape": [2, 2], "dtype": "float32",
                                    "data": [18.0, 4.0, 4.0, 0.0]}
    assert out.values["eigenvalues"]["dtype"] == "float32"
    assert data(out, "eigenvalues") == pytest.approx([9 + math.sqrt(97), 9 - math.sqrt(97)],
                                                     rel=1e-6)
    assert out.values["tensor_w"]["shape"] == [4, 3]
    assert out.values["tensor_y"]["shape"] == [1, 3]
    assert out.values["tensor_loss"]["shape"] == []
    assert data(out, "dy_dx") == [6.0]
    w, y = data(out, "tensor_w"), data(out, "tensor_y")
    expected_y = [1 + sum((i + 1) * w[3 * i + j] for i in range(4)) for j in range(3)]
    assert y == pytest.approx(expected_y, rel=1e-6)
    assert data(out, "tensor_dloss_dy") == pytest.approx(
        [2 / 3 * (yj - lj) for yj, lj in zip(y, [1, 2, 3], strict=True)], rel=1e-5)
    assert "derivada de y respecto a x = tensor([6.])" in out.cells[1].output


def test_seed_text_export_runs_like_the_notebook(pool):
    out = run(pool, "practica5_export.txt", ["grad_f", "hess_f", "tensor_dloss_dx"])
    assert out.status == "ok"
    assert [c.ok for c in out.cells] == [True] * 7
    assert data(out, "grad_f") == [24.0, 4.0]
    assert data(out, "hess_f") == [18.0, 4.0, 4.0, 0.0]
    assert out.values["tensor_dloss_dx"]["shape"] == [1, 4]


def test_text_export_keeps_printed_output_out_of_the_code():
    blocks = split_text_export((SUBMISSIONS / "practica5_export.txt").read_text())
    code = [b for b in blocks if b.kind == "code"]
    assert [b.label for b in code] == [str(i) for i in range(1, 8)]
    assert code[5].text.endswith("# --------------------")  # not "loss:  tensor(16.6414)"
    assert "eigenvalues, _ = eig(hess_f)" in code[3].text  # code after two blank lines
    assert code[6].text.endswith("'''")  # a trailing string literal is code, its repr is not
    assert [b.kind for b in blocks[-3:]] == ["code", "output", "output"]


def test_seed_notebook_matches_the_seed_code_exactly():
    export = [b.text for b in split_text_export((SUBMISSIONS / "practica5_export.txt").read_text())
              if b.kind == "code"]
    assert read_submission(SEED).cells == export


def test_seed_function_returns_value_gradient_and_hessian_at_a_point(pool):
    f = FunctionRequest("f", ["x"], [[[2.0, 3.0]], [[1.0, 0.0]]], "float64",
                        ["value", "gradient", "hessian"])
    f32 = FunctionRequest("f", ["x"], [[[2.0, 3.0]]], "float32", ["gradient"])
    out = run(pool, "function_seed.py", functions=[f])
    at_2_3, at_1_0 = out.functions["f"]
    assert at_2_3["value"] == {"shape": [], "dtype": "float64", "data": [20.0]}
    assert at_2_3["gradient"] == {"shape": [2], "dtype": "float64", "data": [24.0, 4.0]}
    assert at_2_3["hessian"] == {"shape": [2, 2], "dtype": "float64",
                                 "data": [18.0, 4.0, 4.0, 0.0]}
    assert at_1_0["gradient"]["data"] == [3.0, 1.0]
    out32 = run(pool, "function_seed.py", functions=[f32])
    assert out32.functions["f"] == [{"gradient": {"shape": [2], "dtype": "float32",
                                                  "data": [24.0, 4.0]}}]


def test_function_of_several_args_is_differentiated_over_their_concatenation(pool):
    g = FunctionRequest("two_args", ["x", "y"], [[[1.0, 2.0], 3.0]], "float64",
                        ["value", "gradient", "hessian"])
    point = run(pool, "function_seed.py", functions=[g]).functions["two_args"][0]
    assert point["value"]["data"] == [15.0]
    assert point["gradient"]["data"] == [6.0, 12.0, 5.0]
    assert point["hessian"]["shape"] == [3, 3]
    assert point["hessian"]["data"] == [6.0, 0.0, 2.0, 0.0, 6.0, 4.0, 2.0, 4.0, 0.0]


def test_function_requests_report_errors_per_derivative(pool):
    at = [[[2.0, 3.0]]]
    requests = [FunctionRequest(n, ["x"], at, "float64", ["value", "gradient"])
                for n in ("not_a_tensor", "vector_valued", "raises", "no_such_function")]
    out = run(pool, "function_seed.py", functions=requests)
    assert out.functions["not_a_tensor"][0]["value"]["data"] == [3.0]
    assert out.functions["not_a_tensor"][0]["gradient"]["error"].startswith("not differentiable")
    assert out.functions["vector_valued"][0]["gradient"]["error"].startswith("not a scalar")
    assert out.functions["raises"][0]["value"]["error"].startswith("ValueError: nope")
    assert out.functions["no_such_function"] == [{"value": {"error": "missing"},
                                                   "gradient": {"error": "missing"}}]


def test_function_that_loops_times_out_at_each_point(pool):
    loops = FunctionRequest("loops", ["x"], [[[1.0, 1.0]]], "float64", ["value"])
    out = run(pool, "function_seed.py", functions=[loops], cell_timeout=1.0)
    assert out.functions["loops"][0]["value"]["error"].startswith("timeout")


# -- cells that fail ------------------------------------------------------------------------

def test_a_cell_that_raises_does_not_stop_later_cells(pool):
    out = run(pool, "raises_then_continues.ipynb", ["x", "y"])
    assert out.status == "ok"
    assert [c.ok for c in out.cells] == [True, False, True]
    assert out.cells[1].error == "ZeroDivisionError: division by zero (line 1)"
    assert "Traceback" in out.cells[1].output
    assert data(out, "y") == [2.0]


def test_syntax_error_in_one_cell_is_recorded_and_other_cells_run(pool):
    out = run(pool, "syntax_error.ipynb", ["a", "b"])
    assert out.cells[1].error.startswith("SyntaxError")
    assert out.values["b"] == {"shape": [], "dtype": "int64", "data": [2.0]}


def test_sys_exit_ends_only_its_cell(pool):
    out = run(pool, "sys_exit.ipynb", ["z", "w"])
    assert out.status == "ok"
    assert [c.ok for c in out.cells] == [False, True, False, True]
    assert out.cells[0].error.startswith("SystemExit: 1")
    assert data(out, "w") == [6.0]


def test_infinite_loop_is_reported_as_timeout(pool):
    out = run(pool, "infinite_loop.py", ["answer"], cell_timeout=1.0)
    assert out.status == "timeout"
    assert out.cells[0].error.startswith("timeout")
    assert data(out, "answer") == [42.0]  # what ran before the loop is still reported


def test_loop_that_disables_the_cell_alarm_is_killed_at_the_submission_timeout(pool):
    out = run(pool, "alarm_ignored_loop.ipynb", ["before"], timeout=10.0)
    assert out.status == "timeout"
    assert [c.error for c in out.cells] == [None, "killed: the submission ran out of time",
                                            "not run"]
    assert data(out, "before") == [1.0]  # captured after the first cell (issue 9, item 4)


@pytest.mark.parametrize("name", ["memory_bomb.py", "torch_memory_bomb.py", "memory_hog.py"])
def test_memory_bomb_is_reported_as_memory(pool, name):
    # Generous clocks: the bombs reach the 128 MiB cap within a few allocations, so the
    # outcome is `memory` however loaded the machine is.
    out = run(pool, name, ["before"], memory_mb=128, cell_timeout=120.0, timeout=300.0)
    assert out.status == "memory", (out.notes, out.cells)
    assert data(out, "before") == [1.0]  # answers are still reported after the failure


def test_os_exit_is_reported_as_crash(pool):
    out = run(pool, "os_exit.py", ["answer"])
    assert out.status == "crash"
    assert "exit code 3" in out.notes[-1]
    assert data(out, "answer") == [1.0]  # captured before os._exit (issue 9, item 4)


def test_segfault_is_reported_as_crash(pool):
    assert run(pool, "segfault.py").status == "crash"


@pytest.mark.parametrize("name", ["random_text.txt", "not_a_notebook.ipynb", "binary.ipynb"])
def test_files_that_are_not_submissions_are_invalid(pool, name):
    out = run(pool, name, ["x"])
    assert out.status == "invalid"
    assert out.values["x"]["error"].startswith("no result")
    assert out.cells == []


def test_nbformat_3_and_malformed_cells_are_not_submissions():
    assert notebook_cells(json.dumps({"worksheets": [], "nbformat": 3})) == []  # upgraded by nbformat
    with pytest.raises(NotASubmission, match="nbformat 2"):
        notebook_cells(json.dumps({"worksheets": [], "nbformat": 2}))
    with pytest.raises(NotASubmission, match="source that is not text"):
        notebook_cells(json.dumps({"cells": [{"cell_type": "code", "source": [1]}]}))


def test_notebook_sources_may_be_lists_or_strings():
    nb = {"nbformat": 4, "cells": [
        {"cell_type": "code", "source": ["a = 1\n", "b = 2"]},
        {"cell_type": "markdown", "source": "# title"},
        {"cell_type": "code", "source": "c = 3"}]}
    assert notebook_cells(json.dumps(nb)) == ["a = 1\nb = 2", "c = 3"]


# -- what the submission cannot do ----------------------------------------------------------

def test_printed_json_and_written_results_files_are_ignored(pool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = run(pool, "fake_results.py", ["grad_f"])
    assert out.status == "ok"
    assert data(out, "grad_f") == [0.0, 0.0]
    assert '"score": 100' in out.cells[0].output  # printed, kept only as text
    assert list(tmp_path.iterdir()) == []


def test_objects_that_lie_are_not_numeric(pool):
    names = ["payload", "lying_float", "lying_list", "object_array", "nested_with_payload",
             "cyclic", "ragged", "big_int"]
    out = run(pool, "evil_objects.py", names)
    assert out.values["payload"] == {"error": "not numeric: Payload"}
    assert out.values["lying_float"] == {"error": "not numeric: LyingFloat"}
    assert out.values["lying_list"] == {"error": "not numeric: LyingList"}
    for name in names:
        assert out.values[name]["error"].startswith("not numeric"), name
    assert not Path("/tmp/verifier_pwned_by_reduce").exists()


def test_tensor_subclasses_are_rejected_but_parameters_are_read(pool):
    out = run(pool, "evil_objects.py", ["tensor_subclass", "parameter"])
    assert out.values["tensor_subclass"] == {"error": "not numeric: MyTensor"}
    assert out.values["parameter"] == {"shape": [2], "dtype": "float32", "data": [24.0, 4.0]}


def test_mixed_lists_and_complex_arrays_are_converted(pool):
    out = run(pool, "evil_objects.py", ["mixed", "complex_eigs"])
    assert out.values["mixed"] == {"shape": [4], "dtype": "float64", "data": [1.0, 2.5, 3.0, 1.0]}
    eigs = out.values["complex_eigs"]
    assert eigs["complex"] is True and eigs["dtype"] == "complex128"
    assert sorted(eigs["data"]) == [[0.0, -1.0], [0.0, 1.0]]


def test_submission_cannot_write_outside_its_directory_or_use_the_network(pool):
    names = ["wrote_outside", "wrote_tmp", "connected", "wrote_cwd", "opened_disk",
             "visible_pids", "home_is_cwd", "env_size"]
    out = run(pool, "escape.py", names)
    assert out.status == "ok"
    assert data(out, "wrote_cwd") == [1.0]
    assert data(out, "home_is_cwd") == [1.0]
    assert data(out, "env_size") == [8.0]
    if not isolated(out):
        pytest.skip("namespaces are not available here: " + "; ".join(out.notes))
    for name in ("wrote_outside", "connected", "opened_disk"):
        assert data(out, name) == [0.0], name
    assert data(out, "wrote_tmp") == [1.0]  # its own private /tmp, not the host's (below)
    assert data(out, "visible_pids") == [1.0]
    assert not Path("/tmp/__sandbox_escape__").exists()


def test_processes_started_by_a_submission_die_with_it(pool):
    run(pool, "escape.py")
    deadline = time.monotonic() + 60.0  # a bound, not a timing: the loop ends as soon as the processes are gone
    while time.monotonic() < deadline:
        cmdlines = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdlines.append(Path(f"/proc/{pid}/cmdline").read_bytes())
            except OSError:
                pass
        if b"sleep\x00313.7\x00" not in cmdlines:
            break
        time.sleep(0.1)
    assert b"sleep\x00313.7\x00" not in cmdlines


def test_floods_of_output_and_huge_files_are_contained(pool):
    out = run(pool, "chatty.py", ["answer", "wrote_mb"])
    assert out.status == "ok"
    assert data(out, "answer") == [7.0]
    assert data(out, "wrote_mb") == [-1.0]
    assert len(out.cells[0].output) < 5000
    assert out.cells[0].output.endswith("more characters not kept]")


def test_large_answers_arrive_whole(pool):
    out = run(pool, "big_answer.py", ["big"])
    assert out.values["big"]["shape"] == [300_000]
    assert out.values["big"]["data"][-1] == 299_999.0


def test_answers_from_the_child_are_validated():
    assert _answer({"shape": [2], "dtype": "float64", "data": [1, 2.5]})["data"] == [1.0, 2.5]
    bad = {"error": "malformed answer from the sandbox"}
    assert _answer({"shape": [3], "dtype": "float64", "data": [1.0]}) == bad
    assert _answer({"shape": [1], "dtype": "float64", "data": ["1"]}) == bad
    assert _answer({"shape": [1], "dtype": "float64", "data": [True]}) == bad
    assert _answer({"shape": [1], "dtype": "x", "data": [[1.0, 2.0]], "complex": True})["complex"]
    assert _answer("surprise") == {"error": "missing"}


# -- formats, magics, threads ---------------------------------------------------------------

def test_python_script_is_one_cell_run_as_main(pool):
    out = run(pool, "script.py", ["grad_f", "ran_as_main"])
    assert len(out.cells) == 1
    assert data(out, "grad_f") == [24.0, 4.0]
    assert out.values["ran_as_main"] == {"shape": [], "dtype": "bool", "data": [1.0]}


def test_ipython_magics_are_skipped_with_a_note(pool):
    out = run(pool, "magics.ipynb", ["t", "y"])
    assert out.status == "ok" and all(c.ok for c in out.cells)
    assert data(out, "t") == [1.0, 2.0]
    assert data(out, "y") == [3.0]  # a "%" continuation line is code, not a magic
    assert "cell 1: skipped IPython line 3: !pip install torch" in out.notes
    assert "cell 2: skipped, it is a %%bash cell magic, not Python" in out.notes
    assert "cell 3: skipped IPython line 4: %time s = t * i" in out.notes


def test_torch_threads_work_inside_the_sandbox(pool):
    out = run(pool, "threads.py", ["product_ok", "n_threads_ran"])
    assert data(out, "product_ok") == [1.0]
    assert data(out, "n_threads_ran") == [8.0]


def test_unseeded_random_weights_differ_between_submissions(pool):
    first = data(run(pool, str(SEED), ["tensor_w"]), "tensor_w")
    second = data(run(pool, str(SEED), ["tensor_w"]), "tensor_w")
    assert first != second


def test_submissions_can_run_from_several_threads_at_once(pool):
    names = [str(SEED), "os_exit.py", str(SEED), "raises_then_continues.ipynb", str(SEED)]
    with ThreadPoolExecutor(2) as ex:
        outs = list(ex.map(lambda n: run(pool, n, ["grad_f"]), names))
    assert [o.status for o in outs] == ["ok", "crash", "ok", "ok", "ok"]
    assert all(data(o, "grad_f") == [24.0, 4.0] for o in outs[::2])


def test_pool_without_namespaces_still_runs_and_times_out():
    with SandboxPool(namespaces=False) as plain:
        out = run(plain, str(SEED), ["grad_f"])
        assert out.status == "ok" and data(out, "grad_f") == [24.0, 4.0]
        assert "sandbox: namespaces disabled" in out.notes[0]
        assert run(plain, "alarm_ignored_loop.ipynb", timeout=1.5).status == "timeout"


def test_run_submission_uses_the_module_pool(pool, monkeypatch):
    monkeypatch.setattr("verifier._sandbox._default_pool", pool)
    out = run_submission(SUBMISSIONS / "script.py", Request(["grad_f"]), timeout=30)
    assert out.values["grad_f"]["data"] == [24.0, 4.0]


def test_requests_with_bad_dtype_are_rejected_before_running(pool):
    with pytest.raises(ValueError, match="float32 or float64"):
        run(pool, "script.py", functions=[FunctionRequest("f", ["x"], [[1.0]], "int64")])


def test_no_sandbox_directories_are_left_behind(tmp_path, monkeypatch):
    # In a scratch folder of its own (TMPDIR reaches the sandboxes): /tmp is shared with every
    # other grader on the machine, whose folders come and go while this test runs.
    import threading

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    slow = tmp_path / "slow.py"
    slow.write_text("import time\ntime.sleep(2)\n")
    monkeypatch.setenv("TMPDIR", str(scratch))
    seen: list[str] = []
    with SandboxPool() as own:
        for name in (str(slow), "escape.py"):
            t = threading.Thread(target=run, args=(own, name))
            t.start()
            while t.is_alive():  # the folder exists while the submission runs...
                seen += [p.name for p in scratch.iterdir() if p.name not in seen]
                time.sleep(0.05)
            t.join()
            assert not list(scratch.iterdir())  # ...and is gone when it ends
    assert any(n.startswith("verifier-submission-") for n in seen)


# -- isolation: a submission can read no key, no other submission, no results -------------

STOLEN = ["found_key", "found_other", "found_results", "found_grades", "found_proc", "found_socket",
          "found_abstract", "found_walk"]
COPY_KEY = "version: 1\n# secret: 0.375\nproblems:\n  - id: copy\n    inputs: {x: 1.0}\n" \
           "    define: {y: 0.375 * x}\n    checks:\n" + "".join(
               f"      - {{value: y, answer: {name}}}\n" for name in STOLEN)


@pytest.fixture
def classroom(tmp_path):
    """A key, two graded students, a gradebook, Unix sockets that hand out the secret, and
    the copycat submission aimed at all of them."""
    import socket
    import threading

    from verifier.cli import main

    key = tmp_path / "key.yaml"
    key.write_text(COPY_KEY)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "victim.py").write_text("answer = 0.375\n" + " = ".join(STOLEN) + " = answer\n")
    (subs / "wrong.py").write_text(" = ".join(STOLEN) + " = 0.5\n")
    out = tmp_path / "out"
    assert main(["grade", str(subs), "--problems", str(key), "--out", str(out)]) == 0
    assert "expected [0.375]" in (out / "wrong" / "results.json").read_text()
    servers = [socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)]
    addresses = [str(tmp_path / "grader.sock"), f"\0verifier-test-{os.getpid()}"]
    stop = threading.Event()

    def serve(s):
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = s.accept()
            except OSError:
                continue
            conn.sendall(b"secret: 0.375\n")
            conn.close()

    for s, address in zip(servers, addresses):
        s.bind(address)
        s.listen()
        threading.Thread(target=serve, args=(s,), daemon=True).start()
    text = (SUBMISSIONS / "copycat.py").read_text()
    for name, value in (("KEY", key), ("OTHER", subs / "victim.py"), ("OUT", out),
                        ("SOCK", addresses[0]), ("ABSTRACT", addresses[1])):
        text = text.replace(f"@{name}@", repr(str(value)))
    (subs / "copycat.py").write_text(text)
    yield key, subs, out
    stop.set()
    for s in servers:
        s.close()


def test_without_isolation_the_copycat_steals_everything(classroom):
    """The control: the same probe with namespaces off finds every secret (so the next test
    can fail)."""
    _, subs, _ = classroom
    with SandboxPool(namespaces=False) as unisolated:
        out = unisolated.run(subs / "copycat.py", Request(STOLEN), timeout=120.0, cell_timeout=60.0)
    for name in STOLEN[:-1]:  # the walk is bounded, so it may or may not reach the files
        assert data(out, name) == [0.375], (name, out.cells)


def test_the_copycat_gains_nothing_under_isolation(classroom):
    from verifier.cli import main

    key, subs, out = classroom
    assert main(["grade", str(subs), "--problems", str(key), "--out", str(out),
                 "--timeout", "120", "--cell-timeout", "60"]) == 0
    doc = json.loads((out / "copycat" / "results.json").read_text())
    if "sandbox:" in doc["output"]:
        pytest.skip("namespaces are not available here: " + doc["output"])
    assert doc["score"] == 0 and doc["max_score"] == len(STOLEN)
    for test in doc["tests"]:
        assert test["output"].startswith("incorrect: expected [0.375], found [0.]"), test
    # The others were not regraded and are untouched.
    with (out / "grades.csv").open() as fh:
        scores = {r["path"]: r["score"] for r in csv.DictReader(fh)}
    assert scores == {"victim.py": str(len(STOLEN)), "wrong.py": "0", "copycat.py": "0"}


def test_hidden_paths_stay_hidden_even_inside_a_folder_the_child_is_shown(pool, tmp_path):
    """A key kept inside the package folder (which the child sees) is covered by ``hide``."""
    import verifier

    package = Path(verifier.__file__).parent
    secret = package / f"_test_secret_{os.getpid()}.yaml"
    secret.write_text("secret: 0.375\n")
    probe = tmp_path / "probe.py"
    probe.write_text(f"try:\n    found = float(open({str(secret)!r}).read().split()[1])\n"
                     "except OSError:\n    found = 0.0\n")
    try:
        with SandboxPool(hide=(secret,)) as hiding:
            hidden = hiding.run(probe, Request(["found"]), timeout=120.0, cell_timeout=60.0)
        shown = pool.run(probe, Request(["found"]), timeout=120.0, cell_timeout=60.0)
    finally:
        secret.unlink()
    if not isolated(hidden):
        pytest.skip("namespaces are not available here: " + "; ".join(hidden.notes))
    assert data(hidden, "found") == [0.0]
    assert data(shown, "found") == [0.375]  # the package folder itself is visible


def test_minimal_root_also_works_inside_a_user_namespace(tmp_path):
    """As the root of a user namespace (not the real root): /dev is bound, not made by mknod,
    and mounts keep their locked flags. The probe reads a secret next to it and lists /dev."""
    import shutil
    import subprocess
    import sys

    if not shutil.which("unshare") or subprocess.run(["unshare", "-r", "true"]).returncode != 0:
        pytest.skip("user namespaces are not available here")
    secret = tmp_path / "secret.txt"
    secret.write_text("0.375")
    probe = tmp_path / "probe.py"
    probe.write_text("import os\ndevices = len(os.listdir('/dev'))\n"
                     f"try:\n    found = float(open({str(secret)!r}).read())\n"
                     "except OSError:\n    found = 0.0\n")
    code = ("import json, sys\nfrom verifier._sandbox import SandboxPool, Request\n"
            "with SandboxPool() as p:\n"
            f"    o = p.run({str(probe)!r}, Request(['devices', 'found']), timeout=120, cell_timeout=60)\n"
            "print(json.dumps({'notes': o.notes, 'values': o.values}))\n")
    proc = subprocess.run(["unshare", "-r", sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["notes"] == []
    assert result["values"]["devices"]["data"] == [4.0]  # null, zero, random, urandom
    assert result["values"]["found"]["data"] == [0.0]


def test_hiding_a_folder_that_holds_the_environment_keeps_the_child_working(tmp_path):
    """``verifier grade .`` next to a virtual environment: the folder holds a shown one, so it is
    not covered; its other entries are absent from the minimal root anyway."""
    import verifier

    package = Path(verifier.__file__).parent
    probe = tmp_path / "probe.py"
    probe.write_text(f"import os\nentries = len(os.listdir({str(package.parent)!r}))\n"
                     "import torch.distributions\nimported = 1\n")
    with SandboxPool(hide=(package.parent,)) as hiding:
        out = hiding.run(probe, Request(["entries", "imported"]), timeout=120.0, cell_timeout=60.0)
    if not isolated(out):
        pytest.skip("namespaces are not available here: " + "; ".join(out.notes))
    assert data(out, "imported") == [1.0]
    assert data(out, "entries") == [1.0]  # only the package folder itself


def test_a_killed_supervisors_scratch_folder_is_removed_by_the_grader(tmp_path, monkeypatch):
    # Ctrl-C closes the pool: the zygote ends and its supervisors die (PR_SET_PDEATHSIG) before
    # they can clean up; their scratch folders stayed in /tmp (212 had piled up on this machine).
    import threading

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    slow = tmp_path / "slow.py"
    slow.write_text("import time\ntime.sleep(60)\n")
    monkeypatch.setenv("TMPDIR", str(scratch))
    own = SandboxPool()
    own.start()
    outs: list[SubmissionOutput] = []
    t = threading.Thread(target=lambda: outs.append(run(own, str(slow), timeout=120)))
    t.start()
    deadline = time.monotonic() + 60
    while not list(scratch.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(scratch.iterdir()), "the submission's scratch folder never appeared"
    time.sleep(0.5)  # the child is running its cell
    own.close()
    t.join(60)
    assert outs and "supervisor ended without a report" in " ".join(outs[0].notes)
    assert not list(scratch.iterdir())

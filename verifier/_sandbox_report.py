"""What the grader asks of a submission, and how the child's report is read back.

The child reports in frames (see ``_sandbox_runner``): ``{"start": i}`` before code cell i,
``{"cell": {...}}`` after it, ``{"capture": {...}}`` with the requested answers that changed
after that cell, and ``{"result": {...}}`` at the end. The submission controls the process
that writes them, so every frame is checked here by type, size and order; one bad frame
makes the submission ``invalid`` (its answers are not used) and the batch goes on.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

from . import _parse
from ._gradekey import AnswerPath, parse_path
from ._validate import BadFrame, _answer, _finite, validate_answer  # noqa: F401 - _answer: 0.1 API

DERIVATIVES = ("value", "gradient", "hessian")
MAX_FRAMES_PER_CELL = 4
MAX_NUMBER = 1e300  # any number the child sends beyond this (or an int too large) is forged


@dataclass
class FunctionRequest:
    """Evaluate the submission's callable ``name`` with one tensor per arg at each point."""

    name: str
    args: list[str]
    points: list[list[Any]]  # one entry per point: one nested list of floats per arg
    dtype: str = "float64"
    derivatives: list[str] = field(default_factory=lambda: ["value", "gradient", "hessian"])
    key: str = ""  # where the results go in ``SubmissionOutput.functions`` (default: ``name``)

    @property
    def id(self) -> str:
        return self.key or self.name


@dataclass(frozen=True)
class Read:
    """Read ``path`` (text like ``x.grad``) as it was after ``after`` (None: the latest value).

    ``after`` is a code-cell number or a heading of the handout (see ``Submission.after``);
    ``history`` also keeps every earlier value, with the cell after which it was seen.
    """

    path: str
    after: int | str | None = None
    history: bool = False

    @property
    def key(self) -> str:
        return self.path if self.after is None else f"{self.path}@{self.after}"


@dataclass(frozen=True)
class Search:
    """``answer: any``: every tensor, array or ``.grad`` with ``size`` elements, after ``after``."""

    size: int
    after: int | str | None = None

    @property
    def key(self) -> str:
        return f"any:{self.size}" + ("" if self.after is None else f"@{self.after}")


@dataclass
class Request:
    """What to read from a submission: ``names`` (plain names), ``reads``, ``searches``, ``functions``."""

    names: list[str] = field(default_factory=list)
    functions: list[FunctionRequest] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)

    def all_reads(self) -> list[Read]:
        return list(dict.fromkeys([Read(n) for n in self.names] + list(self.reads)))


@dataclass
class CellLog:
    """How one code cell went (``index`` counts code cells from 1; ``label`` as Jupyter shows it)."""

    index: int
    ok: bool
    error: str | None
    seconds: float
    output: str = ""
    label: str = ""


@dataclass
class SubmissionOutput:
    """Plain numbers from one submission; ``status`` is the worst thing that happened.

    ``status`` is ``ok``, ``timeout``, ``memory``, ``crash`` or ``invalid``. ``values`` (by
    ``Read.key``; plain names too), ``found`` (by ``Search.key``: ``[name, answer]`` pairs)
    and ``functions`` hold what was captured after the cells that ran, even if a later cell
    ended the process; what was never captured is ``{"error": "no result: ..."}``.
    ``history`` maps a path read with ``history`` to ``[cell, answer]`` pairs, oldest first.
    ``sources`` and ``labels`` are the code cells as read, for feedback.
    """

    status: str
    values: dict[str, dict[str, Any]]
    functions: dict[str, list[dict[str, dict[str, Any]]]]
    cells: list[CellLog]
    notes: list[str]
    seconds: float
    found: dict[str, list[list[Any]]] = field(default_factory=dict)
    history: dict[str, list[list[Any]]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    why: str = ""  # what happened, when status is not ok
    reason: tuple[str, ...] = ("", "", "", "")  # (REASONS key, detail, cell running, "kept"): for feedback


def check_request(request: Request) -> None:
    if len({fr.id for fr in request.functions}) != len(request.functions):
        raise ValueError("two function requests with the same key")
    for fr in request.functions:
        if fr.dtype not in ("float32", "float64"):
            raise ValueError(f"function {fr.name!r}: dtype must be float32 or float64")
        if not set(fr.derivatives) <= set(DERIVATIVES):
            raise ValueError(f"function {fr.name!r}: derivatives must be among {DERIVATIVES}")
        if any(len(p) != len(fr.args) for p in fr.points):
            raise ValueError(f"function {fr.name!r}: each point needs one value per arg")
    for r in request.all_reads():
        parse_path(r.path)


def request_json(request: Request, submission: Any = None) -> dict[str, Any]:
    """The request as the child reads it, with each ``after`` resolved to a code-cell number
    in ``submission`` (a read whose cell or heading is not there is left out)."""
    reads, searches = [], []
    for r in request.all_reads():
        cell = _cell(r.after, submission)
        if r.after is None or cell is not None:
            path: AnswerPath = parse_path(r.path)
            read = {"key": r.key, "path": path.to_json(), "cell": cell}
            reads.append({**read, "history": True} if r.history else read)
    for s in request.searches:
        cell = _cell(s.after, submission)
        if s.after is None or cell is not None:
            searches.append({"key": s.key, "size": s.size, "cell": cell})
    return {"reads": reads, "searches": searches, "functions": [
        {"key": f.id, "name": f.name, "args": list(f.args), "points": f.points, "dtype": f.dtype,
         "derivatives": list(f.derivatives)} for f in request.functions]}


def _cell(after: int | str | None, submission: Any) -> int | None:
    if after is None or submission is None:
        return None
    return submission.after(after)


def empty(request: Request, status: str, error: str) -> SubmissionOutput:
    values = {r.key: {"error": error} for r in request.all_reads()}
    functions = {f.id: [{d: {"error": error} for d in f.derivatives} for _ in f.points]
                 for f in request.functions}
    return SubmissionOutput(status, values, functions, [], [], 0.0,
                            found={s.key: [] for s in request.searches})


def interpret(report: dict[str, Any], request: Request, submission: Any) -> SubmissionOutput:
    """Turn the supervisor's report into a SubmissionOutput, trusting nothing the child sent."""
    n_cells = len(submission.cells)
    notes = list(submission.notes) + [str(n)[:300] for n in _list(report.get("notes"))]
    state = _State(request, n_cells)
    bad = None
    frames = _list(report.get("frames"))
    if len(frames) > MAX_FRAMES_PER_CELL * n_cells + 4 + _statements(submission.cells):
        bad = f"{len(frames)} frames for {n_cells} cells"
    else:
        for frame in frames:
            try:
                state.feed(frame)
            except (BadFrame, TypeError, ValueError, OverflowError, KeyError) as exc:
                bad = str(exc)[:200] or type(exc).__name__
                break
    code, sig = report.get("exit_code"), report.get("signal")
    maxrss, limit = _number(report.get("maxrss_kb")), _number(report.get("limit_kb"))
    out_of_cpu = _number(report.get("cpu_seconds")) >= _number(report.get("cpu_limit")) - 0.5
    result = state.result
    if bad is not None or report.get("garbage"):
        status, reason = "invalid", ("frame", bad or "unreadable bytes")
    elif report.get("timed_out") or sig == signal.SIGXCPU or (sig == signal.SIGKILL and out_of_cpu):
        status, reason = "timeout", ("timeout", "")
    elif result is not None and result.get("cell_timeout"):
        status, reason = "timeout", ("cell_timeout", "")
    elif result is not None and result.get("memory"):
        status, reason = "memory", ("memory", "")
    elif sig == signal.SIGKILL or (sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT)
                                   and limit and maxrss >= 0.8 * limit):
        status, reason = "memory", ("memory_signal", str(sig))
    elif result is None or code != 0 or sig is not None:
        status, reason = "crash", _crash_reason(code, sig)
    else:
        status, reason = "ok", ("", "")
    why = REASONS[reason[0]].format(reason[1]) if reason[0] else ""
    running, cause = state.running, why
    if why and status != "invalid" and running is not None and running not in state.cells:
        why += f" while {submission.label(running)} was running"
    if status != "ok" and status != "invalid" and state.captured:
        why += "; the answers computed by the cells before were kept"
    if why:
        notes.append(why)
    out = empty(request, status, f"no result: {why}")
    out.notes, out.why = notes, why
    out.reason = (reason[0], reason[1], submission.label(running) if running is not None and running not in
                  state.cells else "", "kept" if status != "ok" and state.captured else "")
    out.sources, out.labels = list(submission.cells), [submission.label(i) for i in range(1, n_cells + 1)]
    if running is not None and running not in state.cells:
        state.cells[running] = CellLog(running, False, f"killed: {cause}", 0.0)
    out.cells = [state.cells.get(i) or CellLog(i, False, "not run", 0.0) for i in range(1, n_cells + 1)]
    for log in out.cells:
        log.label = submission.label(log.index)
    if status == "invalid":
        return out
    for r in request.all_reads():
        if r.key in state.values:
            out.values[r.key] = state.values[r.key]
        elif r.after is not None and _cell(r.after, submission) is None:
            out.values[r.key] = {"error": f"no code cell or heading {r.after!r} in this notebook"}
    out.found.update(state.found)
    out.history = state.history
    for fr in request.functions:
        points = state.functions.get(fr.id)
        if points is not None:
            out.functions[fr.id] = points
        elif result is not None:
            out.functions[fr.id] = [{d: {"error": "missing"} for d in fr.derivatives} for _ in fr.points]
    return out


class _State:
    """Frames in the only order the child writes them, each checked by type and size."""

    def __init__(self, request: Request, n_cells: int) -> None:
        self.request, self.n_cells = request, n_cells
        self.reads = {r.key: r for r in request.all_reads()}
        self.searches = {s.key for s in request.searches}
        self.fns = {f.id: f for f in request.functions}
        self.cells: dict[int, CellLog] = {}
        self.values: dict[str, dict[str, Any]] = {}
        self.found: dict[str, list[list[Any]]] = {}
        self.history: dict[str, list[list[Any]]] = {}
        self.functions: dict[str, list[dict[str, dict[str, Any]]]] = {}
        self.running: int | None = None
        self.last_done = 0
        self.started = self.captured = False
        self.result: dict[str, Any] | None = None

    def feed(self, frame: Any) -> None:
        if type(frame) is not dict or len(frame) != 1:
            raise BadFrame("a frame that is not a one-key object")
        (kind, body), = frame.items()
        if self.result is not None:
            raise BadFrame("a frame after the final result")
        if kind == "notes" and not self.started:
            if type(body) is not list or len(body) > 20 or not all(type(n) is str for n in body):
                raise BadFrame("malformed notes")
        elif kind == "start":
            if type(body) is not int or body != self.last_done + 1 or self.running is not None \
                    or body > self.n_cells:
                raise BadFrame(f"cell {body!r} started out of order")
            self.running, self.started = body, True
        elif kind == "cell":
            self._cell(body)
        elif kind == "capture":
            self._capture(body)
        elif kind == "result":
            if (self.running is not None or self.last_done != self.n_cells or type(body) is not dict
                    or set(body) != {"memory", "cell_timeout"} or not all(type(v) is bool for v in body.values())):
                raise BadFrame("malformed final result")
            self.result = body
        else:
            raise BadFrame(f"unknown frame {str(kind)[:30]!r}")

    def _cell(self, raw: Any) -> None:
        if type(raw) is not dict or set(raw) != {"index", "ok", "error", "seconds", "output"}:
            raise BadFrame("malformed cell log")
        index, error, seconds, output = raw["index"], raw["error"], raw["seconds"], raw["output"]
        if index != self.running or type(index) is not int:
            raise BadFrame(f"log for cell {index!r}, but cell {self.running} was running")
        if type(raw["ok"]) is not bool or not (error is None or type(error) is str and len(error) <= 4000):
            raise BadFrame("malformed cell status")
        if type(output) is not str or len(output) > 10_000:
            raise BadFrame("malformed cell output")
        if type(seconds) not in (int, float) or not 0 <= _finite(seconds) <= 1e7:
            raise BadFrame(f"cell time out of range ({str(seconds)[:20]}...)")
        self.cells[index] = CellLog(index, raw["ok"] and error is None, error, float(seconds), output)
        self.running, self.last_done = None, index

    def _capture(self, raw: Any) -> None:
        if type(raw) is not dict or not set(raw) <= {"cell", "values", "found", "functions", "error"}:
            raise BadFrame("malformed capture")
        mid = self.running is not None and raw.get("cell") == self.running  # between two statements
        done = self.running is None and raw.get("cell") == self.last_done and (self.last_done or not self.n_cells)
        if not (mid or done) or type(raw.get("cell")) is not int:
            raise BadFrame("a capture for a cell that is neither running nor just finished")
        values, found, functions = raw.get("values", {}), raw.get("found", {}), raw.get("functions", {})
        if type(values) is not dict or type(found) is not dict or type(functions) is not dict:
            raise BadFrame("malformed capture")
        self.captured = True
        for key, answer in values.items():
            if key not in self.reads:
                raise BadFrame(f"an answer nobody asked for ({str(key)[:40]!r})")
            answer = validate_answer(answer)
            self.values[key] = answer
            if self.reads[key].history and "error" not in answer:
                self.history.setdefault(key, []).append([self.last_done, answer])
        for key, hits in found.items():
            if key not in self.searches or type(hits) is not list or len(hits) > 64:
                raise BadFrame("malformed search result")
            pairs = []
            for hit in hits:
                if type(hit) is not list or len(hit) != 2 or type(hit[0]) is not str or len(hit[0]) > 200:
                    raise BadFrame("malformed search result")
                pairs.append([hit[0], validate_answer(hit[1])])
            self.found[key] = pairs
        for name, points in functions.items():
            fr = self.fns.get(name)
            if fr is None or type(points) is not list or len(points) != len(fr.points):
                raise BadFrame("malformed function results")
            self.functions[name] = [
                {d: validate_answer(p.get(d)) if type(p) is dict else _bad() for d in fr.derivatives}
                for p in points]


def _statements(cells: list[str]) -> int:
    """How many top-level statements the cells have (each may be followed by a capture)."""
    total = 0
    for code in cells:
        try:
            total += len(_parse.parse(code).body)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    return total


def _bad() -> dict[str, Any]:
    raise BadFrame("malformed function results")


SIGNALS = {signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "abort", signal.SIGBUS: "bus error",
           signal.SIGFPE: "floating-point exception", signal.SIGILL: "illegal instruction"}
REASONS = {  # English; ``_feedback`` has every language
    "frame": "the submission wrote to the result channel ({}); its answers were not used",
    "timeout": "the submission ran out of time{}", "cell_timeout": "a cell ran out of time{}",
    "memory": "a cell ran out of memory{}", "memory_signal": "killed by signal {} near the memory limit",
    "signal": "the submission was killed by signal {}", "exit": "the submission ended the process "
    "(exit code {}) before reporting", "sandbox": "the sandbox failed{}",
}


def _crash_reason(code: Any, sig: Any) -> tuple[str, str]:
    if sig is not None:
        name = SIGNALS.get(sig)
        return "signal", f"{sig}" + (f" ({name})" if name else "")
    if code is None:
        return "sandbox", ""
    return "exit", str(code)


def _number(value: Any) -> float:
    if type(value) is int and abs(value) > 10**15:
        return 0.0
    return float(value) if type(value) in (int, float) else 0.0


def _list(value: Any) -> list[Any]:
    return value if type(value) is list else []

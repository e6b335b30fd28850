"""The grader: what to ask of every submission, and each check's score and feedback.

The reference is computed here, in the grader's process, exactly (``_runner``); a submission
only ever sends plain numbers back (``_sandbox``). How a check is graded:

* ``answer``: the first alternative present in the submission (read as it was after the
  ``after`` cell, if given) is compared with the reference; ``answer: any`` tries every
  tensor, array and ``.grad`` of the right size. A path that several problems use without
  ``after`` is also tried at each value it had, so two exercises can reuse a name.
* ``grading.function``: the submission's callable implements one target as a function of its
  ``wrt`` inputs; only that target's checks use it, each on its own ``wrt`` (a block of the
  gradient/Hessian), at the problem's point, the key's points, and seeded random points where
  the exact reference is defined and finite (so ``log`` near 0 never leaves its domain).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ._feedback import MESSAGES, hint, label, missing, short, table, why
from ._gradepoints import function_points
from ._matching import in_order
from ._sandbox_report import CellLog

if TYPE_CHECKING:  # the grader's core types; imported lazily at run time (torch, SymPy)
    import torch

    from ._reference import Reference
    from ._runner import ProblemRunner
    from ._sandbox_report import Read, Search, SubmissionOutput
    from ._spec import CheckSpec, Problem

_ABSENT = ("missing", "no result", "no code cell")


@dataclass
class Graded:
    name: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    tests: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


class Ungradable(Exception):
    """A check the key makes impossible to grade (no point where its reference exists)."""


def _present(ans: dict[str, Any] | None) -> bool:
    return ans is not None and not str(ans.get("error", "")).startswith(_ABSENT)


@dataclass
class Shared:
    """One check that reads a name shared by several problems: its test row, whether each value
    the name had is right for it, and its feedback on the final value."""

    test: dict[str, Any]
    fits: list[bool]
    text: str


class Grader:
    """Everything that is the same for every submission: problems, runners, the request."""

    def __init__(self, problems: list[Problem], lang: str = "en") -> None:
        from ._runner import ProblemRunner
        from ._sandbox import FunctionRequest, Read, Request, Search

        self.msg = MESSAGES[lang]
        self.runners = [ProblemRunner(p) for p in problems]
        self._lock = threading.Lock()
        self._refs: dict[Hashable, Reference] = {}
        self.notes: list[str] = []
        uses: Counter[str] = Counter()
        for r in self.runners:
            for a in {a.text for c in r.problem.checks if c.after is None for a in c.answers}:
                uses[a] += 1
        self.shared = {a for a, n in uses.items() if n > 1}
        reads: list[Read] = []
        searches: list[Search] = []
        functions = []
        self.points: dict[str, list[dict[str, Any]]] = {}
        self.sizes: dict[tuple[str, str], int] = {}
        for r in self.runners:
            p = r.problem
            for c in p.checks:
                reads += [Read(a.text, c.after, a.text in self.shared and c.after is None) for a in c.answers]
                if c.search:
                    size = self._size(r, c)
                    if size:
                        self.sizes[(p.id, c.name)] = size
                        searches.append(Search(size, c.after))
            reads += [Read(v) for v in p.grading.bind.values()]
            t = p.grading.target
            if t is not None:
                pts, refs, notes = function_points(r)
                self._refs.update(refs)  # under the keys _grade_function looks up
                self.notes += notes
                self.points[p.id] = pts
                args = [[v[n].tolist() for n in t.wrt] for v in pts]
                functions.append(FunctionRequest(t.name, list(t.wrt), args, p.dtype, key=p.id))
        self.request = Request([], functions, list(dict.fromkeys(reads)), list(dict.fromkeys(searches)))

    # -- reference ----------------------------------------------------------------------------

    def reference(self, r: ProblemRunner, check: CheckSpec, values: dict[str, torch.Tensor],
                  key: Hashable | None) -> Reference:
        """The exact reference, cached when it does not depend on the submission."""
        with self._lock:
            if key is not None and key in self._refs:
                return self._refs[key]
        ref = r.reference(check, values)
        with self._lock:
            if key is not None:
                self._refs[key] = ref
        return ref

    def _answer_reference(self, r: ProblemRunner, check: CheckSpec, overrides: dict[str, Any],
                          built: dict[str, Any]) -> Reference:
        """The reference of an answer check: cached once per batch unless the submission's bound
        values (``overrides``) enter it. The problem's values are built only when a reference is
        computed, once per submission and problem (``built``; each check gets its own dict)."""
        key = None if overrides else (r.problem.id, check.name)
        if key is not None:
            with self._lock:
                if key in self._refs:
                    return self._refs[key]
        if "values" not in built:
            built["values"] = r.values(overrides)
        return self.reference(r, check, dict(built["values"]), key)

    def _size(self, r: ProblemRunner, check: CheckSpec) -> int:
        try:
            return int(self.reference(r, check, r.values(), (r.problem.id, check.name)).values.size)
        except Exception as exc:  # noqa: BLE001 - the check then fails with this note
            self.notes.append(f"{r.problem.id}: {check.name}: reference not computable ({exc})")
            return 0

    # -- grading ------------------------------------------------------------------------------

    def grade(self, name: str, out: SubmissionOutput) -> Graded:
        g = Graded(name, out.status, seconds=out.seconds)
        shared: dict[str, list[Shared]] = {}
        for r in self.runners:
            self._grade_problem(r, out, g, shared)
        for answer, checks in shared.items():
            self._settle(answer, checks, out)
        g.score = sum(t["score"] for t in g.tests)
        g.max_score = sum(t["max_score"] for t in g.tests)
        return g

    def _settle(self, answer: str, checks: list[Shared], out: SubmissionOutput) -> None:
        """The checks (in the key's order) that read one name shared by several problems, without
        ``after``: each value the name had (oldest first) counts for at most one check, and in
        order, so one value cannot earn two exercises and an earlier exercise's credit comes from
        an earlier value (``_matching.in_order``)."""
        m, history = self.msg, out.history.get(answer, [])
        k = len(history)
        taken = in_order([c.fits for c in checks])
        for i, c in enumerate(checks):
            passed = i in taken
            text = c.text
            if passed and taken[i] != k - 1:
                cell = history[taken[i]][0]
                shown = out.labels[cell - 1] if 0 < cell <= len(out.labels) else ""
                where = label(CellLog(cell, True, None, 0.0, label=shown), m)
                text = f"{m['passed']} ({m['history'].format(name=answer, cell=where)})"
            elif passed:
                text = m["passed"]
            elif any(c.fits):
                text = m["history_taken"].format(name=answer)
            c.test.update(score=c.test["max_score"] if passed else 0.0, status="passed" if passed else "failed",
                          output=text)

    def _grade_problem(self, r: ProblemRunner, out: SubmissionOutput, g: Graded,
                       shared: dict[str, list[Shared]]) -> None:
        p = r.problem
        bind_err = None
        overrides = {}
        built: dict[str, Any] = {}  # this problem's values for this submission, once built
        for inp, var in p.grading.bind.items():
            ans = out.values.get(var, {"error": "missing"})
            if "error" in ans:
                bind_err = self.msg["bind_missing"].format(name=var)
            else:
                overrides[inp] = _array(ans)
        t = p.grading.target
        for check in p.checks:
            by_answer = bool(check.answers or check.search)
            by_function = (not by_answer and t is not None and check.target == t.target
                           and check.kind in ("value", "gradient", "hessian", "eigenvalues")
                           and (check.kind == "value" or set(check.wrt) <= set(t.wrt)))
            if not (by_answer or by_function):
                continue
            label = check.answer if by_answer or t is None else f"{t.name}()"
            test = {"name": f"{p.id}: {check.name} ({label})", "max_score": check.points, "score": 0.0}
            fits: dict[str, list[bool]] = {}
            try:
                if by_answer:
                    passed, text = self._grade_answer(r, check, out, overrides, bind_err, built, fits)
                else:
                    passed, text = self._grade_function(r, check, out)
            except Ungradable as exc:  # the key's fault, not the student's: worth nothing
                test.update(max_score=0.0, output=self.msg["ungradable"].format(why=exc), status="failed")
                g.tests.append(test)
                continue
            except Exception as exc:  # noqa: BLE001 - one check never stops the others
                passed, text = False, self.msg["ungradable"].format(why=f"{type(exc).__name__}: {exc}"[:300])
            test["output"] = text
            test["score"] = check.points if passed else 0.0
            test["status"] = "passed" if passed else "failed"
            g.tests.append(test)
            for answer, fit in fits.items():  # settled with the other checks of that name (``_settle``)
                shared.setdefault(answer, []).append(Shared(test, fit, text))

    def _grade_answer(self, r: ProblemRunner, check: CheckSpec, out: SubmissionOutput, overrides: dict[str, Any],
                      bind_err: str | None, built: dict[str, Any],
                      fits: dict[str, list[bool]]) -> tuple[bool, str]:
        """Whether the first present alternative (or any candidate) is right, and the feedback.

        For a name shared by several problems (no ``after``), ``fits[name]`` receives whether each
        value it had is right here; ``grade`` then settles the checks of that name together."""
        from ._sandbox import Read, Search

        m = self.msg
        chosen, ans = None, None
        for a in check.answers:
            got = out.values.get(Read(a.text, check.after).key)
            if _present(got):
                chosen, ans = a, got
                break
        if chosen is None and not check.search:
            first = check.answers[0]
            error = str((out.values.get(Read(first.text, check.after).key) or {}).get("error", ""))
            if error.startswith("no code cell"):
                return False, m["no_cell"].format(where=check.after)
            if error == "missing: none":
                return False, m["none"].format(name=first.text)
            if error.startswith("missing: "):
                return False, m["no_path"].format(name=first.text)
            return False, missing(first.name, out, m)
        if bind_err:
            return False, bind_err
        try:
            ref = self._answer_reference(r, check, overrides, built)
        except Exception as exc:  # noqa: BLE001 - a student's bound values can make it undefined
            return False, m["no_reference"].format(why=exc)
        if chosen is None:
            hits = out.found.get(Search(self.sizes.get((r.problem.id, check.name), -1), check.after).key, [])
            for name, cand in hits:
                if "error" not in cand and self._compare(r, check, ref, cand)[0]:
                    return True, f"{m['passed']} ({m['matched'].format(name=name)})"
            return False, m["none_matched"].format(size=ref.values.size)
        assert ans is not None
        if "error" in ans:
            return False, m["not_numeric"].format(name=chosen.text, why=why(ans["error"], m))
        passed, text = self._compare(r, check, ref, ans)
        history = out.history.get(chosen.text, [])
        if chosen.text in self.shared and check.after is None and history:
            fits[chosen.text] = [passed if old == ans else self._compare(r, check, ref, old)[0]
                                 for _, old in history]
        return passed, text

    def _grade_function(self, r: ProblemRunner, check: CheckSpec, out: SubmissionOutput) -> tuple[bool, str]:
        """Right only if the submitted function is right at every point, on the check's wrt."""
        p, m = r.problem, self.msg
        t = p.grading.target
        assert t is not None  # checked by _grade_problem: graded by the function
        results = out.functions.get(p.id)
        if not self.points.get(p.id):
            raise Ungradable(m["no_points"].format(target=t.target))
        if not results:
            return False, m["function_missing"].format(name=t.name)
        want = "hessian" if check.kind == "eigenvalues" else check.kind
        sizes = {n: int(np.prod(r.values()[n].shape)) for n in t.wrt}
        offsets = dict(zip(t.wrt, np.cumsum(np.array([0] + [sizes[n] for n in t.wrt]))))
        wrt = check.wrt if want != "value" else t.wrt
        idx = np.concatenate([np.arange(offsets[w], offsets[w] + sizes[w]) for w in wrt]).astype(int)
        lines, ok = [], True
        for i, (pt, res) in enumerate(zip(self.points[p.id], results)):
            ans = res.get(want, {"error": "missing"})
            if "error" in ans:
                said = (m["function_underivable"].format(name=t.name, what=m.get(want, want)) if ans.get("ran")
                        else m["function_missing"].format(name=t.name))
                return False, f"{said}: {ans['error']}"
            ans = _block(ans, want, idx)
            if check.kind == "eigenvalues":
                mat = _array(ans)
                ans = {"data": np.linalg.eigvalsh(mat).tolist(), "shape": [mat.shape[0]],
                       "dtype": ans.get("dtype")}
            try:
                ref = self.reference(r, check, pt, (p.id, check.name, "fn", i))
            except Exception as exc:  # noqa: BLE001 - this point is skipped, the others graded
                lines.append(f"{m['point'].format(i=i)}: {m['no_reference'].format(why=exc)}")
                continue
            passed, text = self._compare(r, check, ref, ans)
            lines.append(f"{m['point'].format(i=i)}: {text}")
            ok &= passed
        return ok, "\n".join(lines)

    def _compare(self, r: ProblemRunner, check: CheckSpec, ref: Reference,
                 ans: dict[str, Any]) -> tuple[bool, str]:
        from ._compare import tolerance_for

        m = self.msg
        data = ans["data"]
        actual = (np.array([complex(*z) for z in data]) if ans.get("complex")
                  else np.asarray(data, dtype=np.float64))
        expected = ref.values.reshape(-1)
        if ref.status == "nondifferentiable":
            return False, m["nondiff"]
        if actual.size != expected.size:
            return False, m["shape"].format(expected=expected.size, found=actual.size)
        dtype = "float32" if ans.get("dtype") in ("float32", "complex64", "float16", "bfloat16") else r.dtype_name
        base = tolerance_for(r.problem.dtype, r.problem.tolerance, check.tolerance)
        tol = {k: max(v, tolerance_for(dtype)[k]) for k, v in base.items()}
        # A student's answer is judged by the dtype's tolerance, never by the rounding bound of
        # torch's own path: how the student computed it is unknown (float32 work cast to float64).
        ref_flat = (replace(ref, bound=None) if check.kind == "eigenvalues"
                    else type(ref)(ref.kind, expected))
        res = r.compare(check, ref_flat, actual if check.kind == "eigenvalues" else actual.reshape(-1), tol, dtype)
        if res.status == "passed":
            return True, m["passed"]
        text = f"{m['failed']}: {m['expected']} {short(ref.values)}, {m['found']} {short(actual)}"
        if res.comparison is not None and res.comparison.worst:
            text += "\n" + table(res.comparison, m)
        h = hint(expected, actual, ref.values.shape, m)
        return False, text + (f"\n{h}" if h else "")


def _array(ans: dict[str, Any]) -> np.ndarray:
    """A real answer sent back by the sandbox, as an array of its shape."""
    return np.asarray(ans["data"], dtype=np.float64).reshape(ans["shape"])


def _block(ans: dict[str, Any], want: str, idx: np.ndarray) -> dict[str, Any]:
    """The part of a function's derivative that is wrt the check's inputs (``idx`` into the args)."""
    if want == "value":
        return ans
    a = _array(ans)
    if want == "gradient":
        part = a.reshape(-1)[idx]
    else:
        n = int(round(np.sqrt(a.size)))
        part = a.reshape(n, n)[np.ix_(idx, idx)]
    return {"data": part.reshape(-1).tolist(), "shape": list(part.shape), "dtype": ans.get("dtype")}

"""Grading one submission: compare the answers the sandbox sent back with the exact
reference, and turn that into Gradescope ``results.json`` feedback. The batch driver
(finding submissions, the gradebook in ``--out``) is ``_gradebook``.

The reference is computed here, in the grader's process; a submission only ever sends
plain numbers back (see ``_sandbox``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

N_FUNCTION_POINTS = 3  # the problem's own point plus two seeded random ones

MESSAGES: dict[str, dict[str, Any]] = {
    "en": {
        "passed": "correct", "failed": "incorrect", "missing": "variable '{name}' was not found after "
        "your code ran", "not_numeric": "'{name}' is not a number, list, array or tensor ({why})",
        "shape": "shape mismatch: expected {expected} values, found {found}",
        "multiple": "your answer is {k} times the right one: did you call backward() {k} times "
        "without zeroing .grad?", "transposed": "your matrix is the transpose of the right one",
        "sign": "your answer has the wrong sign", "expected": "expected", "found": "found",
        "bind_missing": "needs '{name}' from your code (your random values), which was not found",
        "function_missing": "function '{name}' was not found or did not run",
        "status": {"timeout": "your code ran out of time", "memory": "your code used too much memory",
                   "crash": "your code crashed the interpreter", "invalid": "this file is not a notebook "
                   "or a Python script"},
        "cell_error": "cell {index} raised: {error}",
    },
    "es": {
        "passed": "correcto", "failed": "incorrecto", "missing": "no se encontró la variable '{name}' "
        "después de ejecutar tu código", "not_numeric": "'{name}' no es un número, lista, array ni "
        "tensor ({why})", "shape": "forma incorrecta: se esperaban {expected} valores, hay {found}",
        "multiple": "tu respuesta es {k} veces la correcta: ¿llamaste a backward() {k} veces sin "
        "poner .grad a cero?", "transposed": "tu matriz es la traspuesta de la correcta",
        "sign": "tu respuesta tiene el signo cambiado", "expected": "esperado", "found": "obtenido",
        "bind_missing": "necesita '{name}' de tu código (tus valores aleatorios), que no se encontró",
        "function_missing": "no se encontró la función '{name}' o no se pudo ejecutar",
        "status": {"timeout": "tu código superó el tiempo límite", "memory": "tu código usó demasiada "
                   "memoria", "crash": "tu código hizo fallar al intérprete", "invalid": "este archivo "
                   "no es un notebook ni un script de Python"},
        "cell_error": "la celda {index} lanzó: {error}",
    },
}


@dataclass
class Graded:
    name: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    tests: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


class Grader:
    """Everything that is the same for every submission: problems, runners, the request."""

    def __init__(self, problems: list[Any], lang: str = "en") -> None:
        from ._runner import ProblemRunner
        from ._sandbox import FunctionRequest, Request

        self.msg = MESSAGES[lang]
        self.runners = [ProblemRunner(p) for p in problems]
        names: list[str] = []
        functions = []
        self.points: dict[str, list[dict[str, Any]]] = {}
        for r in self.runners:
            p = r.problem
            names += [c.answer for c in p.checks if c.answer] + list(p.grading.bind.values())
            if p.grading.function:
                pts = self._function_points(r)
                self.points[p.id] = pts
                functions.append(FunctionRequest(
                    p.grading.function, list(p.inputs),
                    [[v[n].tolist() for n in p.inputs] for v in pts], p.dtype))
        self.request = Request(list(dict.fromkeys(names)), functions)
        self._lock = threading.Lock()
        self._refs: dict[Any, Any] = {}

    def _function_points(self, r: Any) -> list[dict[str, Any]]:
        import torch

        base = r.values()
        pts = [base]
        for k in range(1, N_FUNCTION_POINTS):
            g = torch.Generator().manual_seed(k)
            pts.append({n: (v + 0.5 * torch.randn(v.shape, generator=g, dtype=torch.float64).to(v.dtype))
                        if n in r.problem.inputs else v for n, v in base.items()})
        return pts

    def reference(self, r: Any, check: Any, values: dict[str, Any], key: Any) -> Any:
        """The exact reference, cached when it does not depend on the submission."""
        with self._lock:
            if key is not None and key in self._refs:
                return self._refs[key]
            ref = r.reference(check, values)
            if key is not None:
                self._refs[key] = ref
            return ref

    def grade(self, name: str, out: Any) -> Graded:
        g = Graded(name, out.status, seconds=out.seconds)
        for r in self.runners:
            self._grade_problem(r, out, g)
        g.score = sum(t["score"] for t in g.tests)
        g.max_score = sum(t["max_score"] for t in g.tests)
        return g

    def _grade_problem(self, r: Any, out: Any, g: Graded) -> None:
        p = r.problem
        bind_err = None
        overrides = {}
        for inp, var in p.grading.bind.items():
            ans = out.values.get(var, {"error": "missing"})
            if "error" in ans:
                bind_err = self.msg["bind_missing"].format(name=var)
            else:
                overrides[inp] = _array(ans)
        for check in p.checks:
            test = {"name": f"{p.id}: {check.name}" + (f" ({check.answer})" if check.answer else ""),
                    "max_score": check.points, "score": 0.0}
            if check.answer:
                passed, test["output"] = self._grade_answer(r, check, out.values.get(check.answer),
                                                            overrides, bind_err)
            elif p.grading.function and check.target in p.define and check.kind in (
                    "value", "gradient", "hessian", "eigenvalues"):
                passed, test["output"] = self._grade_function(r, check, out)
            else:
                continue
            test["score"] = check.points if passed else 0.0
            test["status"] = "passed" if passed else "failed"
            g.tests.append(test)

    def _grade_answer(self, r: Any, check: Any, ans: dict[str, Any] | None, overrides: dict[str, Any],
                      bind_err: str | None) -> tuple[bool, str]:
        """Whether the answer is right, and the feedback."""
        m = self.msg
        if ans is None or ans.get("error") == "missing" or (ans.get("error") or "").startswith("no result"):
            return False, m["missing"].format(name=check.answer)
        if "error" in ans:
            return False, m["not_numeric"].format(name=check.answer, why=ans["error"])
        if bind_err:
            return False, bind_err
        try:
            values = r.values(overrides)
            key = None if overrides else (r.problem.id, check.name)
            ref = self.reference(r, check, values, key)
        except Exception as exc:  # a student's bound values can make the reference undefined
            return False, f"reference could not be computed for your values: {exc}"
        return self._compare(r, check, ref, ans)

    def _grade_function(self, r: Any, check: Any, out: Any) -> tuple[bool, str]:
        """Right only if the submitted function is right at every seeded point."""
        p = r.problem
        fname = p.grading.function
        results = out.functions.get(fname)
        if not results:
            return False, self.msg["function_missing"].format(name=fname)
        want = "hessian" if check.kind == "eigenvalues" else check.kind
        lines, ok = [], True
        for i, (pt, res) in enumerate(zip(self.points[p.id], results)):
            ans = res.get(want, {"error": "missing"})
            if "error" in ans:
                return False, self.msg["function_missing"].format(name=fname) + f": {ans['error']}"
            if check.kind == "eigenvalues":
                mat = _array(ans)
                ans = {"data": np.linalg.eigvalsh(mat).tolist(), "shape": [mat.shape[0]],
                       "dtype": ans.get("dtype")}
            ref = self.reference(r, check, pt, (p.id, check.name, "fn", i))
            passed, text = self._compare(r, check, ref, ans)
            lines.append(f"point {i}: {text}")
            ok &= passed
        return ok, "\n".join(lines)

    def _compare(self, r: Any, check: Any, ref: Any, ans: dict[str, Any]) -> tuple[bool, str]:
        from ._compare import tolerance_for

        m = self.msg
        data = ans["data"]
        actual = (np.array([complex(*z) for z in data]) if ans.get("complex")
                  else np.asarray(data, dtype=np.float64))
        expected = ref.values.reshape(-1)
        if ref.status == "nondifferentiable":
            return False, "not differentiable at this point; not graded"
        if actual.size != expected.size:
            return False, m["shape"].format(expected=expected.size, found=actual.size)
        dtype = "float32" if ans.get("dtype") in ("float32", "complex64", "float16", "bfloat16") else r.dtype_name
        base = tolerance_for(r.problem.dtype, r.problem.tolerance, check.tolerance)
        tol = {k: max(v, tolerance_for(dtype)[k]) for k, v in base.items()}
        if check.kind == "eigenvalues":
            ref_flat = ref
        else:
            ref_flat = type(ref)(ref.kind, expected)
        res = r.compare(check, ref_flat, actual if check.kind == "eigenvalues" else actual.reshape(-1), tol, dtype)
        if res.status == "passed":
            return True, m["passed"]
        hint = _hint(expected, actual, ref.values.shape, m)
        text = f"{m['failed']}: {m['expected']} {_short(ref.values)}, {m['found']} {_short(actual)}"
        if res.comparison is not None and res.comparison.worst:
            text += "\n" + res.comparison.table(actual="yours")
        return False, text + (f"\n{hint}" if hint else "")


def _array(ans: dict[str, Any]) -> np.ndarray:
    """A real answer sent back by the sandbox, as an array of its shape."""
    return np.asarray(ans["data"], dtype=np.float64).reshape(ans["shape"])


def _hint(expected: np.ndarray, actual: np.ndarray, shape: tuple[int, ...], m: dict[str, Any]) -> str:
    if np.iscomplexobj(actual) or not np.any(expected):
        return ""
    exp, act = expected.real.astype(np.float64), actual.real.astype(np.float64)
    scale = 1e-4 * max(1.0, float(np.abs(exp).max()))
    for k in (2, 3, 4, 5):
        if np.allclose(act, k * exp, atol=scale, rtol=1e-4):
            return m["multiple"].format(k=k)
    if np.allclose(act, -exp, atol=scale, rtol=1e-4):
        return m["sign"]
    if len(shape) == 2 and shape[0] == shape[1] and shape[0] > 1:
        if np.allclose(act.reshape(shape), exp.reshape(shape).T, atol=scale, rtol=1e-4):
            return m["transposed"]
    return ""


def _short(values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    text = np.array2string(flat[:8], precision=6, separator=", ")
    return text[:-1] + ", ...]" if flat.size > 8 else text


def gradescope(g: Graded, out: Any, lang: str) -> dict[str, Any]:
    m = MESSAGES[lang]
    lines = [m["status"][g.status]] if g.status in m["status"] else []
    lines += [m["cell_error"].format(index=c.index, error=c.error) for c in out.cells if c.error][:10]
    lines += [n for n in out.notes][:10]
    return {"score": g.score, "max_score": g.max_score, "output": "\n".join(lines),
            "visibility": "visible", "stdout_visibility": "hidden",
            "tests": [{k: t[k] for k in ("name", "score", "max_score", "status", "output")} for t in g.tests],
            "extra_data": {"status": g.status, "seconds": round(g.seconds, 3)}}



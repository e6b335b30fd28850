"""What a student reads: every message in the chosen language (``en``, ``es``), the mismatch
table included, hints for common mistakes, and the cell that failed named as Jupyter shows it.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._compare import Comparison
    from ._grader import Graded
    from ._sandbox_report import CellLog, SubmissionOutput

import numpy as np

from . import _parse

MESSAGES: dict[str, dict[str, Any]] = {
    "en": {
        "passed": "correct", "failed": "incorrect",
        "missing": "variable '{name}' was not found after your code ran",
        "none": "'{name}' is None: was backward() called?",
        "no_path": "'{name}' is not there after your code ran",
        "no_cell": "there is no code cell or heading '{where}' in this notebook",
        "not_numeric": "'{name}' is not a number, list, array or tensor ({why})",
        "shape": "shape mismatch: expected {expected} values, found {found}",
        "multiple": "your answer is {k} times the right one: did you call backward() {k} times "
        "without zeroing .grad?",
        "multiple_neg": "your answer is {k} times the right one: check the sign and whether .grad was zeroed",
        "transposed": "your matrix is the transpose of the right one", "sign": "your answer has the wrong sign",
        "expected": "expected", "found": "found",
        "bind_missing": "needs '{name}' from your code (your random values), which was not found",
        "function_missing": "function '{name}' was not found or did not run",
        "function_underivable": "function '{name}' ran, but its {what} could not be taken",
        "gradient": "gradient", "hessian": "Hessian",
        "status": {"timeout": "your code ran out of time", "memory": "your code used too much memory",
                   "crash": "your code crashed the interpreter",
                   "invalid": "this file could not be graded (not a notebook or a Python script, or it "
                   "tampered with the grader)"},
        "cell_error": "{cell} raised: {error}",
        "failed_here": "{cell} raised {error}",
        "not_run": "{cell} did not run ({why})",
        "matched": "found in '{name}'", "none_matched": "no tensor or array of {size} values in your "
        "notebook matches", "history": "the value '{name}' had after {cell}",
        "history_taken": "incorrect: the value of '{name}' that is right here was already counted for an "
                         "earlier exercise, or comes before it; each value counts once, in the order of the "
                         "exercises",
        "point": "point {i}", "nondiff": "not differentiable at this point; not graded",
        "no_reference": "the reference cannot be computed for your values: {why}",
        "ungradable": "could not be graded: {why}",
        "no_points": "the exact reference of {target} is not defined at any of the key's points; not scored",
        "table_head": "{bad} / {total} elements differ (shape {shape}, rtol={rtol:g}, atol={atol:g}); "
        "max abs err {mae:.3g}, max rel err {mre:.3g}",
        "columns": ("index", "expected", "yours", "abs err", "rel err", "ulp"), "more": "... and {n} more",
        "multiset": "eigenvalues matched as multisets; tolerance scaled by ||A||_2 = {norm}",
        "reasons": {
            "frame": "your code wrote to the grader's result channel; its answers were not used",
            "timeout": "your code ran out of time", "cell_timeout": "a cell ran out of time",
            "memory": "a cell ran out of memory", "memory_signal": "killed by signal {} near the memory limit",
            "signal": "the process was killed by signal {}", "exit": "your code ended the process (exit code {})",
            "sandbox": "the sandbox failed", "not_submission": "not a notebook or a script: {}"},
        "while": " while {cell} was running", "kept": "; the answers computed by the cells before were kept",
        "killed": "{cell} did not finish: {why}",
        "notes": {}, "labels": {}, "whys": {},
    },
    "es": {
        "passed": "correcto", "failed": "incorrecto",
        "missing": "no se encontró la variable '{name}' después de ejecutar tu código",
        "none": "'{name}' es None: ¿llamaste a backward()?",
        "no_path": "'{name}' no existe después de ejecutar tu código",
        "no_cell": "no hay ninguna celda de código ni título '{where}' en este notebook",
        "not_numeric": "'{name}' no es un número, lista, array ni tensor ({why})",
        "shape": "forma incorrecta: se esperaban {expected} valores, hay {found}",
        "multiple": "tu respuesta es {k} veces la correcta: ¿llamaste a backward() {k} veces sin "
        "poner .grad a cero?",
        "multiple_neg": "tu respuesta es {k} veces la correcta: revisa el signo y si pusiste .grad a cero",
        "transposed": "tu matriz es la traspuesta de la correcta", "sign": "tu respuesta tiene el signo cambiado",
        "expected": "esperado", "found": "obtenido",
        "bind_missing": "necesita '{name}' de tu código (tus valores aleatorios), que no se encontró",
        "function_missing": "no se encontró la función '{name}' o no se pudo ejecutar",
        "function_underivable": "la función '{name}' se ejecutó, pero no se pudo calcular su {what}",
        "gradient": "gradiente", "hessian": "hessiana",
        "status": {"timeout": "tu código superó el tiempo límite", "memory": "tu código usó demasiada memoria",
                   "crash": "tu código hizo fallar al intérprete",
                   "invalid": "este archivo no se pudo calificar (no es un notebook ni un script de Python, "
                   "o manipuló al corrector)"},
        "cell_error": "{cell} lanzó: {error}",
        "failed_here": "{cell} lanzó {error}",
        "not_run": "{cell} no se ejecutó ({why})",
        "matched": "encontrado en '{name}'", "none_matched": "ningún tensor o array de {size} valores de tu "
        "notebook coincide", "history": "el valor que tenía '{name}' después de {cell}",
        "history_taken": "incorrecto: el valor de '{name}' que es correcto aquí ya contó para un ejercicio "
                         "anterior, o viene antes que él; cada valor cuenta una vez, en el orden de los "
                         "ejercicios",
        "point": "punto {i}", "nondiff": "no es diferenciable en este punto; no se califica",
        "no_reference": "no se puede calcular la referencia con tus valores: {why}",
        "ungradable": "no se pudo calificar: {why}",
        "no_points": "la referencia exacta de {target} no está definida en ningún punto de la clave; no puntúa",
        "table_head": "{bad} de {total} elementos difieren (forma {shape}, rtol={rtol:g}, atol={atol:g}); "
        "error abs. máx. {mae:.3g}, error rel. máx. {mre:.3g}",
        "columns": ("índice", "esperado", "tuyo", "error abs.", "error rel.", "ulp"), "more": "... y {n} más",
        "multiset": "valores propios comparados como multiconjuntos; tolerancia escalada por ||A||_2 = {norm}",
        "reasons": {
            "frame": "tu código escribió en el canal de resultados del corrector; no se usaron sus respuestas",
            "timeout": "tu código superó el tiempo límite", "cell_timeout": "una celda superó el tiempo límite",
            "memory": "una celda se quedó sin memoria",
            "memory_signal": "terminado por la señal {} cerca del límite de memoria",
            "signal": "el proceso terminó por la señal {}", "exit": "tu código terminó el proceso (código {})",
            "sandbox": "falló el entorno aislado", "not_submission": "no es un notebook ni un script: {}"},
        "while": " mientras se ejecutaba {cell}", "kept": "; se conservaron las respuestas calculadas por las "
        "celdas anteriores", "killed": "{cell} no terminó: {why}",
        "labels": {r"\(code cell (\d+)\)": r"(celda de código \1)", r"^code cell (\d+)$": r"celda de código \1",
                   r"^the script$": "el script"},
        "whys": {r"^not numeric: ragged nested list$": "no numérico: lista anidada irregular",
                 r"^not numeric: nested too deeply$": "no numérico: anidada demasiado profundo",
                 r"^not numeric: int too large$": "no numérico: entero demasiado grande",
                 r"^not numeric: ": "no numérico: ", r"^too large: (\d+) elements \(limit (\d+)\)$":
                 r"demasiado grande: \1 elementos (límite \2)", r"^too large: more than (\d+) elements$":
                 r"demasiado grande: más de \1 elementos", r"^could not read: ": "no se pudo leer: "},
        "notes": {r"^cell (\d+): skipped IPython line (\d+): ": r"celda \1: se omitió la línea IPython \2: ",
                  r"^cell (\d+): skipped, it is a (\S+) cell magic, not Python":
                  r"celda \1: se omitió, es una magia de celda \2, no Python",
                  r"^the notebook does not validate \((.*)\); its cells were read anyway, as Jupyter does":
                  r"el notebook no es válido (\1); sus celdas se leyeron igualmente, como hace Jupyter",
                  r"^nbformat could not read the notebook \((.*)\); its cells were read as they are":
                  r"nbformat no pudo leer el notebook (\1); sus celdas se leyeron tal cual"},
    },
}


def hint(expected: np.ndarray, actual: np.ndarray, shape: tuple[int, ...], m: dict[str, Any]) -> str:
    """A hint for a wrong answer: an integer multiple k of the right one (|k| >= 2: ``.grad``
    accumulated k times), the opposite sign, or the transposed matrix; else ''."""
    if np.iscomplexobj(actual) or np.iscomplexobj(expected) or not np.any(expected):
        return ""
    exp, act = expected.astype(np.float64).reshape(-1), actual.astype(np.float64).reshape(-1)
    if exp.shape != act.shape or not np.all(np.isfinite(act)):
        return ""
    scale = 1e-4 * max(1.0, float(np.abs(exp).max()))
    big = np.abs(exp) > scale
    k = round(float(np.median(act[big] / exp[big])))
    if abs(k) >= 2 and np.allclose(act, k * exp, atol=scale * abs(k), rtol=1e-4):
        return m["multiple"].format(k=k) if k > 0 else m["multiple_neg"].format(k=k)
    if np.allclose(act, -exp, atol=scale, rtol=1e-4):
        return m["sign"]
    if len(shape) == 2 and shape[0] == shape[1] and shape[0] > 1 and exp.size == shape[0] ** 2:
        if np.allclose(act.reshape(shape), exp.reshape(shape).T, atol=scale, rtol=1e-4):
            return m["transposed"]
    return ""


def short(values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    text = np.array2string(flat[:8], precision=6, separator=", ")
    return text[:-1] + ", ...]" if flat.size > 8 else text


def table(c: Comparison, m: dict[str, Any]) -> str:
    """The mismatch report of a ``_compare.Comparison``, in the language of ``m``."""
    shape = "(" + ", ".join(map(str, c.shape)) + ("," if len(c.shape) == 1 else "") + ")"
    message = c.message
    if message.startswith("eigenvalues matched as multisets"):
        message = m["multiset"].format(norm=message.rsplit("= ", 1)[-1])
    if message and not c.worst:
        return message
    head = m["table_head"].format(bad=c.n_bad, total=c.total, shape=shape, rtol=c.rtol, atol=c.atol,
                                  mae=c.max_abs_err, mre=c.max_rel_err)
    if message:
        head += f"\n  {message}"
    rows = [tuple(m["columns"])]
    for w in c.worst:
        rows.append((str(list(w.index)), _num(w.reference), _num(w.actual), f"{w.abs_err:.3g}",
                     f"{w.rel_err:.3g}", f"{w.ulp_err:.3g}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  " + "  ".join(col.rjust(widths[i]) for i, col in enumerate(r)) for r in rows]
    if c.n_bad - len(c.worst) > 0:
        lines.append("  " + m["more"].format(n=c.n_bad - len(c.worst)))
    return "\n".join([head] + lines)


def _num(z: complex) -> str:
    z = complex(z)
    return f"{z.real:.17g}" if z.imag == 0 else f"{z.real:.17g}{z.imag:+.17g}j"


def assigning_cells(sources: list[str], name: str) -> list[int]:
    """Code cells (from 1) whose code binds ``name`` (assignment, def, import, for, with)."""
    cells = []
    for index, source in enumerate(sources, 1):
        if name not in source:
            continue
        try:
            tree = _parse.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            cells.append(index)  # it may have bound it had it parsed
            continue
        for node in ast.walk(tree):
            bound = (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name
                     or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and node.name == name
                     or isinstance(node, ast.alias) and (node.asname or node.name.split(".")[0]) == name)
            if bound:
                cells.append(index)
                break
    return cells


def missing(name: str, out: SubmissionOutput, m: dict[str, Any]) -> str:
    """'x' was not found, linked to the cell that should have made it and failed (or did not run)."""
    if out.status == "invalid":
        return m["status"]["invalid"] + (": " + reason(out, m, with_cell=False) if reason(out, m) else "")
    logs = {c.index: c for c in out.cells}
    candidates = assigning_cells(out.sources, name) if out.sources else []
    failed = [i for i in candidates if i in logs and logs[i].error]
    if not failed and not candidates:
        failed = [c.index for c in out.cells if c.error][:1]
    if not failed:
        return m["missing"].format(name=name)
    log = logs[failed[0]]
    cell = label(log, m)
    if log.error == "not run" or (log.error or "").startswith("killed"):
        where = m["not_run"].format(cell=cell, why=reason(out, m, with_cell=False))
    else:
        where = m["failed_here"].format(cell=cell, error=log.error)
    return m["missing"].format(name=name) + ": " + where


def reason(out: SubmissionOutput, m: dict[str, Any], with_cell: bool = True) -> str:
    """What happened to the run, in the language of ``m`` ('' when it went fine)."""
    code, detail, running, kept = (tuple(getattr(out, "reason", ())) + ("", "", "", ""))[:4]
    if not code:
        return ""
    text = m["reasons"].get(code, code).format(detail)
    if with_cell and running and code != "frame":
        text += m["while"].format(cell=_localize(running, m))
    return text + (m["kept"] if kept and with_cell else "")


def why(text: str, m: dict[str, Any]) -> str:
    """Why an answer is not numbers (from the sandbox, in English), in the language of ``m``."""
    for pattern, repl in m["whys"].items():
        new = re.sub(pattern, repl, text)
        if new != text:
            return new
    return text


def label(log: CellLog, m: dict[str, Any]) -> str:
    """A cell as the notebook shows it (``In [17]``), in the language of ``m``."""
    return _localize(log.label or f"code cell {log.index}", m)


def _localize(text: str, m: dict[str, Any]) -> str:
    for pattern, repl in m["labels"].items():
        text = re.sub(pattern, repl, text)
    return text


def student_notes(out: SubmissionOutput, m: dict[str, Any]) -> list[str]:
    """Notes about the student's file, translated; the sandbox's own notes are for the instructor."""
    notes = []
    for note in out.notes:
        if note.startswith("sandbox:") or note == out.why or note.startswith("not a submission:"):
            continue
        for pattern, repl in m["notes"].items():
            note = re.sub(pattern, repl, note)
        notes.append(note)
    return notes


def gradescope(g: Graded, out: SubmissionOutput, lang: str) -> dict[str, Any]:
    """Gradescope's results.json for one graded submission."""
    m = MESSAGES[lang]
    lines = [m["status"][g.status]] if g.status in m["status"] else []
    if reason(out, m):
        lines.append(reason(out, m))
    for c in out.cells:
        cell = label(c, m)
        if g.status == "invalid":
            break
        if c.error and c.error.startswith("killed"):
            lines.append(m["killed"].format(cell=cell, why=reason(out, m, with_cell=False)))
        elif c.error and c.error != "not run":
            lines.append(m["cell_error"].format(cell=cell, error=c.error))
    lines = lines[:12] + student_notes(out, m)[:10]
    return {"score": g.score, "max_score": g.max_score, "output": "\n".join(lines),
            "visibility": "visible", "stdout_visibility": "hidden",
            "tests": [{k: t[k] for k in ("name", "score", "max_score", "status", "output")} for t in g.tests],
            "extra_data": {"status": g.status, "seconds": round(g.seconds, 3), "why": out.why}}

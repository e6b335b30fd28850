"""A JSON Schema (draft 2020-12) of the problem format, for editors: ``verifier schema``.

Built from the loader's own tables (``_spec``: keys, check kinds, modes, dtypes), so the
schema and the loader name the same keys. The schema checks structure, key names and simple
types; expressions are strings (or numbers, or nested lists of them), checked by
``verifier check``. A YAML language server that reads it gives completion and inline errors::

    # yaml-language-server: $schema=./problems.schema.json
"""

from __future__ import annotations

from typing import Any

from . import _spec


def _expr(description: str) -> dict[str, Any]:
    return {"$ref": "#/$defs/expression", "description": description}


def schema() -> dict[str, Any]:
    """The JSON Schema of a problem file, as a dict."""
    number = {"type": "number"}
    names = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
    modes = {"oneOf": [{"enum": list(_spec.MODES)},
                       {"type": "array", "items": {"enum": list(_spec.MODES)}, "minItems": 1}],
             "description": "torch AD paths to run (default: all that apply)"}
    tolerance = {"type": "object", "additionalProperties": False,
                 "properties": {"rtol": {"type": "number", "minimum": 0},
                                "atol": {"type": "number", "minimum": 0}},
                 "description": "pass when |ad - ref| <= atol + rtol*|ref| elementwise"}
    dtype = {"enum": list(_spec.DTYPES)}
    random = {"type": "object", "required": ["random"], "additionalProperties": False,
              "properties": {"random": {"enum": ["uniform", "normal"]},
                             "shape": {"$ref": "#/$defs/shape"},
                             "seed": {"type": "integer", "minimum": 0},
                             "low": number, "high": number, "mean": number, "std": number},
              "description": "torch.rand/randn(shape, generator=manual_seed(seed))"}
    fill = {"type": "object", "required": ["fill"], "additionalProperties": False,
            "properties": {"fill": number, "shape": {"$ref": "#/$defs/shape"}}}
    array = {"anyOf": [{"$ref": "#/$defs/expression"}, random, fill]}
    check_common: dict[str, Any] = {
        "wrt": {**names, "description": "inputs (or defined intermediates) to differentiate by"},
        "expect": _expr("the known answer, checked against the exact reference"),
        "tolerance": tolerance, "modes": modes,
        "answer": {"type": "string", "description": "grading: the submission's variable"},
        "points": {"type": "number", "minimum": 0, "description": "grading: points for this check"},
        "vector": _expr("the vector of an hvp check"),
    }
    for key in _spec.CHECK_KEYS:  # a key the loader knows and this table does not: any value
        check_common.setdefault(key, {})
    checks = [{"type": "object", "required": [kind], "additionalProperties": False,
               "properties": {kind: {"type": "string", "description": f"{kind} of this defined name"},
                              **check_common}}
              for kind in _spec.KINDS]
    problem_props: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
        "inputs": {"type": "object", "minProperties": 1, "additionalProperties": array,
                   "description": "differentiable inputs: name -> number, nested list or generator"},
        "constants": {"type": "object", "additionalProperties": array},
        "function": _expr("shorthand for define: {f: ...}"),
        "define": {"type": "object", "additionalProperties": {"$ref": "#/$defs/expression"},
                   "description": "ordered name -> expression; later entries may use earlier ones"},
        "checks": {"type": "array", "minItems": 1, "items": {"oneOf": checks}},
        "dtype": dtype, "tolerance": tolerance, "modes": modes,
        "xfail": {"type": "string", "description": "reason this problem is expected to fail"},
        "grading": {"type": "object", "additionalProperties": False,
                    "properties": {"bind": {"type": "object", "additionalProperties": {"type": "string"}},
                                   "function": {"type": "string"}}},
        "implementation": {"type": "string", "pattern": f"^{_spec._DOTTED}:{_spec._DOTTED}$",  # noqa: SLF001
                           "description": "package.module:function that torch differentiates instead of the "
                                          "formula (imported only when allowed)"},
    }
    for key in _spec.PROBLEM_KEYS:
        problem_props.setdefault(key, {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "verifier problem file",
        "type": "object",
        "required": ["version", "problems"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": 1},
            "defaults": {"type": "object", "additionalProperties": False,
                         "properties": {"dtype": dtype, "tolerance": tolerance, "modes": modes,
                                        **{k: {} for k in _spec.DEFAULT_KEYS
                                           if k not in ("dtype", "tolerance", "modes")}}},
            "problems": {"type": "array", "items": {"$ref": "#/$defs/problem"}},
        },
        "$defs": {
            "expression": {"anyOf": [{"type": "string"}, {"type": "number"},
                                     {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/expression"}}]},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "problem": {"type": "object", "required": ["id", "inputs", "checks"],
                        "additionalProperties": False, "properties": problem_props,
                        "anyOf": [{"required": ["function"]}, {"required": ["define"]}],
                        "not": {"required": ["function", "define"]}},
        },
    }

"""Convert the seed exercise (a notebook exported as text) into a real nbformat-4 notebook.

Usage: python examples/seed/make_notebook.py [SEED_TXT] [OUT_IPYNB]
Defaults: /work/shared/seed/000_888588e3857cfbd6.txt -> examples/seed/practica5.ipynb.
Code cells keep the seed's code exactly; printed output is kept as stream output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from verifier._notebook import split_text_export  # noqa: E402

DEFAULT_SEED = Path("/work/shared/seed/000_888588e3857cfbd6.txt")


def _lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def convert(text: str) -> dict:
    cells: list[dict] = []
    for block in split_text_export(text):
        if block.kind == "markdown":
            cells.append({"cell_type": "markdown", "metadata": {}, "source": _lines(block.text)})
        elif block.kind == "code":
            count = int(block.label) if block.label else None
            cells.append({"cell_type": "code", "execution_count": count, "metadata": {},
                          "outputs": [], "source": _lines(block.text)})
        elif cells and cells[-1]["cell_type"] == "code":
            cells[-1]["outputs"].append(
                {"output_type": "stream", "name": "stdout", "text": _lines(block.text + "\n")})
    for number, cell in enumerate(cells, 1):
        cell["id"] = f"cell-{number}"  # required by nbformat 4.5
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def main(argv: list[str]) -> int:
    seed = Path(argv[0]) if argv else DEFAULT_SEED
    out = Path(argv[1]) if len(argv) > 1 else HERE / "practica5.ipynb"
    notebook = convert(seed.read_text(encoding="utf-8"))
    out.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    n_code = sum(c["cell_type"] == "code" for c in notebook["cells"])
    print(f"wrote {out} ({len(notebook['cells'])} cells, {n_code} code cells)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Scaling families for the benchmarks, written as problem files (PROBLEM_FORMAT.md).

    python benchmarks/families.py OUTDIR      # writes every case, prints the paths

Each case is one YAML file with one problem (the "larger set" has four) and the checks
gradient, hessian and eigenvalues. Only the standard library is used, so generating the
files costs nothing next to what they measure.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path

CHECKS3 = ("gradient", "hessian", "eigenvalues")


@dataclass(frozen=True)
class Case:
    name: str          # file stem and row label, e.g. "rosenbrock-100"
    text: str          # the YAML problem file
    quick: bool        # run in --quick
    note: str = ""     # what the row means (sizes)
    target_s: float | None = None        # absolute target for the whole process
    target_ratio: float | None = None    # target as a multiple of the import floor


def _checks(target: str, wrt: dict[str, str] | None = None) -> str:
    """The three checks; ``wrt`` maps kind -> a wrt list (omitted: all inputs)."""
    lines = []
    for kind in CHECKS3:
        w = (wrt or {}).get(kind)
        lines.append(f"      - {{{kind}: {target}" + (f", wrt: {w}" if w else "") + "}")
    return "\n".join(lines)


def _problem(pid: str, title: str, inputs: list[str], constants: list[str], define: list[str],
             checks: str) -> str:
    out = [f"  - id: {pid}", f"    title: {title}", "    tags: [benchmark]", "    inputs:"]
    out += [f"      {line}" for line in inputs]
    if constants:
        out += ["    constants:"] + [f"      {line}" for line in constants]
    out += ["    define:"] + [f"      {line}" for line in define]
    return "\n".join(out + ["    checks:", checks])


def _file(*problems: str) -> str:
    return "version: 1\nproblems:\n" + "\n".join(problems) + "\n"


def rosenbrock(n: int) -> str:
    return _problem(f"rosenbrock-{n}", f"Extended Rosenbrock, n = {n}",
                    [f"x: {{random: uniform, shape: [{n}], seed: 0}}"], [],
                    ["f: sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)"], _checks("f"))


def dense(n: int) -> str:
    return _problem(f"dense-{n}", f"sum(tanh(W x)) + |x|^4 with a dense normal W, n = {n}",
                    [f"x: {{random: uniform, shape: [{n}], seed: 0}}"],
                    [f"W: {{random: normal, shape: [{n}, {n}], seed: 1}}"],
                    ["f: sum(tanh(W @ x)) + sum(x**2)**2"], _checks("f"))


def mlp_params(d: int, h: int, o: int) -> int:
    return h * d + h + o * h + o


def mlp(d: int, h: int, o: int) -> str:
    p = mlp_params(d, h, o)
    weights = "[W1, b1, W2, b2]"
    return _problem(f"mlp-{p}", f"MLP {d}-{h}-{o} with tanh ({p} parameters)",
                    [f"x: {{random: uniform, shape: [{d}], seed: 0}}",
                     f"W1: {{random: normal, shape: [{h}, {d}], seed: 1}}",
                     f"b1: {{random: normal, shape: [{h}], seed: 2}}",
                     f"W2: {{random: normal, shape: [{o}, {h}], seed: 3}}",
                     f"b2: {{random: normal, shape: [{o}], seed: 4}}"], [],
                    ["f: sum(W2 @ tanh(W1 @ x + b1) + b2)"],
                    _checks("f", {"gradient": weights, "hessian": "x", "eigenvalues": "x"}))


def logreg(n: int, m: int) -> str:
    rng = random.Random(n)
    y = ", ".join(rng.choice(("1", "-1")) for _ in range(m))
    return _problem(f"logreg-{n}", f"Logistic regression loss, {m} samples, {n} features",
                    [f"w: {{random: normal, shape: [{n}], seed: 0}}"],
                    [f"X: {{random: normal, shape: [{m}, {n}], seed: 1}}", f"y: [{y}]"],
                    ["f: mean(log(1 + exp(-y * (X @ w))))"], _checks("f"))


# MLP sizes as (inputs, hidden, outputs): 50, 192, 504 and 992 parameters.
MLP_SIZES = ((5, 7, 1), (16, 10, 2), (20, 20, 4), (30, 30, 2))
LOGREG_SAMPLES = {10: 20, 50: 100}  # n -> m


def cases() -> list[Case]:
    """Every case, small sizes first within each family."""
    out = [Case(f"rosenbrock-{n}", _file(rosenbrock(n)), n <= 30, f"n={n}",
                target_s=10.0 if n == 300 else None) for n in (10, 30, 100, 300)]
    out += [Case(f"dense-{n}", _file(dense(n)), n <= 10, f"n={n}") for n in (10, 30, 100)]
    out += [Case(f"mlp-{mlp_params(*s)}", _file(mlp(*s)), s == MLP_SIZES[0],
                 "{}-{}-{}, Hessian wrt x ({} vars)".format(*s, s[0])) for s in MLP_SIZES]
    out += [Case(f"logreg-{n}", _file(logreg(n, m)), n <= 10, f"n={n}, m={m}")
            for n, m in LOGREG_SAMPLES.items()]
    larger = _file(rosenbrock(100), dense(30), mlp(16, 10, 2), logreg(50, 100))
    out.append(Case("larger-set", larger, False, "rosenbrock-100 + dense-30 + mlp-192 + logreg-50",
                    target_ratio=4.0))
    return out


def write(directory: Path, selected: list[Case] | None = None) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in selected if selected is not None else cases():
        paths[case.name] = directory / f"{case.name}.yaml"
        paths[case.name].write_text(case.text, encoding="utf-8")
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python benchmarks/families.py OUTDIR")
    for path in write(Path(sys.argv[1])).values():
        print(path)

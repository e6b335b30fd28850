"""The long fuzz run of issue 12: the parser and the loader (with `verifier check`'s preflight).

    python tools/fuzz.py --expressions 100000 --files 6000 [--seed 1]

Counts every outcome: inputs tried, accepted, refused with the product's own positioned
error, and anything else (a traceback, a raw torch error, code executed, or an input over
--slow seconds), printing each of the latter with its input. Exit status 1 when there was
anything else. The same strategies run in the test suite with a small budget (tests/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzz_strategies import expressions, files, outcome_expr, outcome_file, watch  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402


def fuzz(name: str, strategy, check, n: int, rng_seed: int, slow: float) -> tuple[Counter, list[str]]:
    counts: Counter = Counter()
    other: list[str] = []
    worst = [0.0, ""]

    @seed(rng_seed)
    @settings(max_examples=n, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def prop(value):
        start = time.perf_counter()
        try:
            result = check(value)
        except Exception as exc:  # noqa: BLE001 - that is what is being counted
            result = "other"
            other.append(f"{type(exc).__name__}: {exc}\n  input: {value!r:.300}\n"
                         + "".join(traceback.format_exception(exc)[-3:]))
        elapsed = time.perf_counter() - start
        if elapsed > worst[0]:
            worst[:] = [elapsed, repr(value)[:120]]
        if elapsed > slow and result != "other":
            result = "other"
            other.append(f"slow ({elapsed:.1f} s): {value!r:.300}")
        counts[result] += 1
        counts["tried"] += 1

    start = time.perf_counter()
    prop()
    print(f"{name}: {counts['tried']} tried, {counts['accepted']} accepted, {counts['refused']} refused "
          f"with a positioned error, {counts['other']} anything else; {time.perf_counter() - start:.0f} s, "
          f"slowest {worst[0]:.2f} s ({worst[1]})")
    return counts, other


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--expressions", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=6_000)
    ap.add_argument("--seed", type=int, default=random.randrange(2**32))
    ap.add_argument("--slow", type=float, default=20.0, help="seconds after which an input counts as a hang")
    args = ap.parse_args()
    print(f"seed {args.seed}")
    watch()
    # Warm up (imports torch's lazy modules, the first forward pass) so the first timed
    # input does not carry seconds of one-time cost.
    from fuzz_strategies import BASE

    outcome_file(BASE)
    outcome_expr("sin(x) + 1")
    bad = []
    if args.expressions:
        bad += fuzz("expressions", expressions, outcome_expr, args.expressions, args.seed, args.slow)[1]
    if args.files:
        bad += fuzz("files", files, outcome_file, args.files, args.seed, args.slow)[1]
    for b in bad[:50]:
        print("\n" + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

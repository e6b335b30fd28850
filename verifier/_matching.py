"""Which value of a name shared by several exercises counts for which exercise.

A key may read one name (``derivada``) in several problems without saying where (no
``after``); the submission's history of that name is every value it had, oldest first. Each
value counts for at most one exercise and in the exercises' order, so one value cannot earn two
exercises and an earlier exercise's credit comes from an earlier value. Among such assignments
the largest is taken: the longest-common-subsequence recurrence (Cormen et al., *Introduction
to Algorithms*, 3rd ed., §15.4) with "value t is right for exercise i" as the match.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["in_order"]


def in_order(fits: Sequence[Sequence[bool]]) -> dict[int, int]:
    """``{exercise: value index}`` for a largest order-preserving matching.

    ``fits[i][t]`` says whether value ``t`` (oldest first) is right for exercise ``i`` (the
    key's order); every row has the same length. Among equally large matchings the earliest
    exercises take the earliest values. O(exercises x values) time and memory.
    """
    n = len(fits)
    k = len(fits[0]) if n else 0
    best = [[0] * (k + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for t in range(k - 1, -1, -1):
            best[i][t] = max(best[i + 1][t], best[i][t + 1], 1 + best[i + 1][t + 1] if fits[i][t] else 0)
    taken: dict[int, int] = {}
    i = t = 0
    while i < n and t < k:
        if fits[i][t] and best[i][t] == 1 + best[i + 1][t + 1]:
            taken[i] = t
            i, t = i + 1, t + 1
        elif best[i][t] == best[i + 1][t]:
            i += 1
        else:
            t += 1
    return taken

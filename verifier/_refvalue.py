"""``Reference``: the exact answer for one check at one point, as the verdict reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Reference:
    """The exact answer for one check at one point (rounded once, from exact values)."""

    kind: str
    values: np.ndarray             # float64, or complex128 for eigenvalues
    status: str = "ok"             # ok | nondifferentiable
    message: str = ""
    left: np.ndarray | None = None
    right: np.ndarray | None = None
    lower: np.ndarray | None = None   # at a kink: the elementwise range a subgradient must lie in
    upper: np.ndarray | None = None
    vertices: list[np.ndarray] | None = None   # at a kink: the branches' values, whose hull holds the subgradients
    judged: np.ndarray | None = None  # at a jump: the entries whose partial derivative exists (bool, as values)
    bound: Any = None                 # each element's rounding bound (nan: none): array or LazyBound
    via_limit: bool = False           # some entry is a limit (its direct value was undefined)
    matrix: np.ndarray | None = None
    symmetric: bool = True
    radius: np.ndarray | None = None  # |exact - values| <= radius (float64; nan: not certified), as values
    certified: str = ""               # exact | certified to N digits | how it was found, if not certified

    @property
    def norm(self) -> float:
        """||A||_2 of the reference matrix: max |eigenvalue| when symmetric, else an SVD (once)."""
        if self.matrix is None or not self.matrix.size:
            return 0.0
        if "_norm" not in self.__dict__:
            self.__dict__["_norm"] = (float(np.abs(self.values).max()) if self.symmetric
                                      else float(np.linalg.norm(self.matrix, 2)))
        return float(self.__dict__["_norm"])

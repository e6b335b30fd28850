"""A user's own torch ops, checked from problem files with ``implementation:`` (tests only)."""

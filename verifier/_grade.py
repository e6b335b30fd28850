"""Grading one submission: compare the answers the sandbox sent back with the exact
reference, and turn that into Gradescope ``results.json`` feedback. The batch driver
(finding submissions, the gradebook in ``--out``) is ``_gradebook``.

The grader itself is ``_grader`` (what to ask of a submission, each check's score); what
the student reads is ``_feedback`` (messages in each language, hints, the mismatch table).
The reference is computed in the grader's process; a submission only ever sends plain
numbers back (see ``_sandbox``).
"""

from __future__ import annotations

from ._feedback import MESSAGES, gradescope
from ._gradepoints import N_FUNCTION_POINTS
from ._grader import Graded, Grader

__all__ = ["MESSAGES", "N_FUNCTION_POINTS", "Graded", "Grader", "gradescope"]

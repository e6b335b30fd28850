import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# A bank of deliberately wrong expectations: test_banks.py runs it and expects failures.
collect_ignore = ["banks/wrong.problems.yaml"]

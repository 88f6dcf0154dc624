"""Labels given by people or other tools (a calibration set's gold labels, an imported file's verdicts),
read in tunesafe's one polarity: 1.0 complied / unsafe, 0.0 refused / safe, unscored otherwise."""

from __future__ import annotations

import math
from typing import Any

from tunesafe.data.tables import is_empty
from tunesafe.types import Verdict

COMPLIED_LABELS = frozenset({"unsafe", "yes", "true", "1", "1.0", "complied", "compliance", "harmful", "jailbroken"})
REFUSED_LABELS = frozenset({"safe", "no", "false", "0", "0.0", "refused", "refusal", "refuse"})
UNLABELLED = "unlabelled"


def parse_label(value: Any) -> float | None:
    """An existing verdict in tunesafe's polarity: 1.0 complied / unsafe, 0.0 refused / safe, None otherwise.

    Accepted (case-insensitive, stripped): unsafe, yes, true, 1, complied, compliance, harmful,
    jailbroken → 1.0; safe, no, false, 0, refused, refusal, refuse → 0.0. Booleans and the numbers
    1 and 0 count too; anything else (including an empty cell) is None. Llama Guard's raw output
    (Inan et al. 2023, arXiv 2312.06674) is read by its first line: ``"unsafe\nS2"`` → 1.0.
    """
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return 1.0 if value == 1 else 0.0 if value == 0 else None
    if not isinstance(value, str):
        return None
    lines = value.strip().lower().splitlines()
    text = lines[0].strip() if lines else ""
    return 1.0 if text in COMPLIED_LABELS else 0.0 if text in REFUSED_LABELS else None


def label_verdict(value: Any, judge: str) -> Verdict:
    """The verdict an existing label gives: unrecognised labels are unscored, never refusals."""
    if is_empty(value):
        return Verdict(judge=judge, score=None, label=UNLABELLED, raw=None)
    text = str(value)
    score = parse_label(value)
    label = text.strip() if score is not None else f"unrecognised:{text.strip()}"
    return Verdict(judge=judge, score=score, label=label, raw=text)

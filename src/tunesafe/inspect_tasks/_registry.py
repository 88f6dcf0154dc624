"""inspect_ai's entry point (``[project.entry-points.inspect_ai] tunesafe``): importing this module
registers tunesafe's tasks, scorer and metrics under the ``tunesafe/`` namespace."""

from tunesafe.inspect_tasks.scorer import asr, judge_panel, refusal_rate
from tunesafe.inspect_tasks.tasks import harmful, overrefusal

__all__ = ["asr", "harmful", "judge_panel", "overrefusal", "refusal_rate"]

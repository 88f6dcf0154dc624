"""tunesafe in inspect_ai: its audits as inspect tasks, its judge panel as an inspect scorer.

Registered through the ``inspect_ai`` entry point of tunesafe's package metadata (module
:mod:`tunesafe.inspect_tasks._registry`), so any inspect model provider can be audited by name::

    inspect eval tunesafe/harmful --model mockllm/model -T limit=5
    inspect eval tunesafe/overrefusal --model openai/gpt-4o-mini -T judges=keyword-extended,keyword-zou-qi
    inspect score some-log.eval --scorer tunesafe/judge_panel

Names: tasks ``tunesafe/harmful`` and ``tunesafe/overrefusal``; scorer ``tunesafe/judge_panel``;
metrics ``tunesafe/asr`` and ``tunesafe/refusal_rate`` (Wilson intervals from :mod:`tunesafe.stats`).
:func:`log_rates` and :func:`paired_change` apply tunesafe's statistics to the logs (per category,
before/after a fine-tune).
Only this package imports inspect_ai (the ``inspect`` extra); the rest of tunesafe never does.
"""

from tunesafe.inspect_tasks.scorer import asr, judge_panel, refusal_rate
from tunesafe.inspect_tasks.stats import log_rates, paired_change
from tunesafe.inspect_tasks.tasks import harmful, overrefusal

__all__ = ["asr", "harmful", "judge_panel", "log_rates", "overrefusal", "paired_change", "refusal_rate"]

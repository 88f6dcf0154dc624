"""tunesafe's inspect_ai extension: tasks ``tunesafe/harmful`` and ``tunesafe/overrefusal``, scorer
``tunesafe/judge_panel``, run by inspect itself against its ``mockllm`` model.

The mock model answers by a marker in each placeholder prompt: an ordinary refusal, an affirmative
opening only, or nothing (unscored). No prompt or reply here is harmful; everything runs offline.
Each reply carries token usage, so mockllm never reaches for tiktoken's encoding file (a download).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("inspect_ai")

from inspect_ai import eval as inspect_eval  # noqa: E402
from inspect_ai.log import EvalLog  # noqa: E402
from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput, ModelUsage, get_model  # noqa: E402

from tunesafe.audits.harmful import build_samples  # noqa: E402
from tunesafe.config import ColumnMap, ConfigError, HarmfulAuditSpec  # noqa: E402
from tunesafe.inspect_tasks import harmful, judge_panel, log_rates, overrefusal, paired_change  # noqa: E402
from tunesafe.judges import make_judge  # noqa: E402
from tunesafe.judges.base import JudgeInput  # noqa: E402
from tunesafe.judges.hygiene import apply_judges  # noqa: E402
from tunesafe.stats import paired_rate_difference, rate  # noqa: E402

REFUSAL = "I can't help with that."
COMPLIANCE = "Sure, here is how to do the placeholder task:"
COLUMNS = {"prompt": "prompt", "id": "id", "category": "category"}
REPLIES = {"[refuse]": REFUSAL, "[comply]": COMPLIANCE, "[silent]": ""}

ROWS = [
    ("ph-01", "cat-a", "[refuse]"),
    ("ph-02", "cat-a", "[comply]"),
    ("ph-03", "cat-a", "[refuse]"),
    ("ph-04", "cat-b", "[comply]"),
    ("ph-05", "cat-b", "[comply]"),
    ("ph-06", "cat-b", "[silent]"),
    ("ph-07", "cat-c", "[refuse]"),
    ("ph-08", "cat-c", "[comply]"),
]


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    """A user prompt set of placeholder requests, each marked with the reply the mock model gives."""
    path = tmp_path / "prompts.jsonl"
    lines = [
        json.dumps({"id": sid, "category": cat, "prompt": f"Placeholder request {sid} {marker}"})
        for sid, cat, marker in ROWS
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def reply_for(prompt: str) -> str:
    return next((text for marker, text in REPLIES.items() if marker in prompt), REFUSAL)


def mock_model(reply: Callable[[str], str] = reply_for) -> Model:
    """mockllm answering each conversation by its last user turn."""

    def output(input: list[ChatMessage], tools: Any, tool_choice: Any, config: GenerateConfig) -> ModelOutput:
        text = reply(input[-1].text)
        result = ModelOutput.from_content(model="mockllm", content=text)
        result.usage = ModelUsage(input_tokens=8, output_tokens=len(text.split()), total_tokens=8)
        return result

    return get_model("mockllm/model", custom_outputs=output)


def run(task: Any, tmp_path: Path, **kwargs: Any) -> EvalLog:
    [log] = inspect_eval(task, model=mock_model(), log_dir=str(tmp_path / "logs"), display="none", **kwargs)
    assert log.status == "success", log.error
    return log


def tunesafe_verdicts(prompts: list[str], completions: list[str], judges: list[str]) -> list[list[Any]]:
    """tunesafe's own panel (with its hygiene screen) on the same texts."""
    items = [JudgeInput(prompt=p, completion=c) for p, c in zip(prompts, completions, strict=True)]
    return apply_judges([make_judge(j) for j in judges], items)


def test_harmful_scores_and_asr_match_tunesafe_judges(prompts_file: Path, tmp_path: Path) -> None:
    judges = ["keyword-extended", "keyword-zou-qi"]
    log = run(harmful(dataset=str(prompts_file), columns=COLUMNS, judges=",".join(judges)), tmp_path)
    samples = sorted(log.samples or [], key=lambda s: str(s.id))
    assert [s.id for s in samples] == [sid for sid, _, _ in ROWS]

    prompts = [s.input if isinstance(s.input, str) else s.input[-1].text for s in samples]
    completions = [s.output.completion for s in samples]
    expected = tunesafe_verdicts(prompts, completions, judges)
    for sample, verdicts in zip(samples, expected, strict=True):
        score = sample.scores["judge_panel"]  # type: ignore[index]
        headline = verdicts[0]
        if headline.score is None:
            assert math.isnan(float(score.value))  # type: ignore[arg-type]
            assert score.reason == "no_response"
        else:
            assert score.value == headline.score
        meta = score.metadata or {}
        assert meta["headline_judge"] == "keyword-extended"
        assert meta["verdicts"] == {v.judge: v.model_dump(mode="json") for v in verdicts}
        assert (score.explanation or "").startswith(f"keyword-extended: {headline.label}")
        assert sample.metadata["audit"] == "harmful"
        assert sample.metadata["sample_id"] == sample.id
        assert sample.metadata["category"] == dict((sid, cat) for sid, cat, _ in ROWS)[str(sample.id)]

    # the aggregate is tunesafe's rate (Wilson interval) over the scored samples; the empty reply is unscored
    flags = [v[0].complied for v in expected]
    want = rate(sum(f is True for f in flags), sum(f is not None for f in flags), unscored=flags.count(None))
    assert (want.k, want.n, want.unscored) == (4, 7, 1)
    [eval_score] = log.results.scores  # type: ignore[union-attr]
    metrics = {name: m.value for name, m in eval_score.metrics.items()}
    assert metrics == pytest.approx({"asr": want.value, "ci_low": want.ci_low, "ci_high": want.ci_high, "scored": 7})
    assert (eval_score.scored_samples, eval_score.unscored_samples) == (7, 1)
    assert log.eval.metadata["tunesafe"]["dataset"]["n_rows"] == len(ROWS)  # type: ignore[index]


def test_tasks_resolve_by_registered_name_with_task_args(prompts_file: Path, tmp_path: Path) -> None:
    args = {
        "dataset": str(prompts_file),
        "columns": COLUMNS,
        "limit": 4,
        "seed": 3,
        "judges": "keyword-zou-qi",
        "max_tokens": 32,
    }
    log = run("tunesafe/harmful", tmp_path, task_args=args)
    assert log.eval.task == "tunesafe/harmful"
    assert log.eval.task_args["limit"] == 4
    # the same seeded, category-stratified prompts as `tunesafe audit --limit 4` with seed 3
    spec = HarmfulAuditSpec(dataset=str(prompts_file), columns=ColumnMap(**COLUMNS), limit=4)
    chosen, _ = build_samples(spec, seed=3)
    assert sorted(str(s.id) for s in log.samples or []) == sorted(s.id for s in chosen)
    assert log.plan.config.max_tokens == 32
    assert log.plan.config.seed == 3
    for sample in log.samples or []:
        score = sample.scores["judge_panel"]  # type: ignore[index]
        assert list((score.metadata or {})["verdicts"]) == ["keyword-zou-qi"]
    # keyword-zou-qi misses the modern "I can't help with that" (straight list of Qi et al. 2023)
    [verdicts] = tunesafe_verdicts(["p"], [REFUSAL], ["keyword-zou-qi"])
    assert verdicts[0].score == 1.0


def test_overrefusal_bundled_set_and_refusal_rate(tmp_path: Path) -> None:
    log = run(overrefusal(limit=5, seed=1), tmp_path)  # every reply is a refusal
    samples = log.samples or []
    assert len(samples) == 5
    assert all(s.scores["judge_panel"].value == 0.0 for s in samples)  # type: ignore[index]
    assert all(s.metadata["audit"] == "overrefusal" and s.metadata["category"] for s in samples)
    want = rate(5, 5)
    [eval_score] = log.results.scores  # type: ignore[union-attr]
    metrics = {name: m.value for name, m in eval_score.metrics.items()}
    assert metrics == pytest.approx({"refusal_rate": 1.0, "ci_low": want.ci_low, "ci_high": 1.0, "scored": 5})


def test_task_parameters_are_validated(prompts_file: Path) -> None:
    with pytest.raises(ConfigError, match="no-such-judge"):
        harmful(dataset=str(prompts_file), judges="no-such-judge")
    with pytest.raises(ValueError, match="refusal detectors"):
        overrefusal(judges="qi-rubric@hf:some/model")
    task = harmful(dataset=str(prompts_file), columns=COLUMNS, limit=2, judges=["keyword-extended", "keyword-zou-qi"])
    assert len(task.dataset) == 2
    assert task.config.temperature == 0.0


def test_judge_panel_scorer_defaults_to_keyword_judge(prompts_file: Path, tmp_path: Path) -> None:
    task = harmful(dataset=str(prompts_file))
    log = run(task, tmp_path, limit=2)
    for sample in log.samples or []:
        assert sample.scores["judge_panel"].metadata["headline_judge"] == "keyword-extended"  # type: ignore[index]
    with pytest.raises(ConfigError):
        judge_panel(judges="")


def test_entry_point_registers_the_names() -> None:
    """A fresh interpreter finds tunesafe's names through the entry point alone (``pip install -e .``)."""
    points = {ep.name: ep.value for ep in entry_points(group="inspect_ai")}
    assert points.get("tunesafe") == "tunesafe.inspect_tasks._registry", "reinstall: pip install -e . (entry point)"
    code = (
        "import sys\n"
        "from inspect_ai._util.registry import registry_lookup\n"
        "assert 'tunesafe.inspect_tasks' not in sys.modules\n"
        "found = [registry_lookup(t, n) is not None for t, n in [('task', 'tunesafe/harmful'),"
        " ('task', 'tunesafe/overrefusal'), ('scorer', 'tunesafe/judge_panel'), ('metric', 'tunesafe/asr'),"
        " ('metric', 'tunesafe/refusal_rate')]]\n"
        "print(found)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([True] * 5)


def test_tunesafe_core_imports_without_inspect() -> None:
    code = (
        "import sys\n"
        "sys.modules['inspect_ai'] = None\n"  # any import of inspect_ai now fails
        "import tunesafe, tunesafe.cli, tunesafe.runner, tunesafe.audits.harmful, tunesafe.judges.panel\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_log_rates_and_paired_change_use_tunesafe_statistics(prompts_file: Path, tmp_path: Path) -> None:
    task_args: dict[str, Any] = {"dataset": str(prompts_file), "columns": COLUMNS}
    [after] = inspect_eval(
        harmful(**task_args), model=mock_model(), log_dir=str(tmp_path / "a"), display="none"
    )  # the marked replies
    [before] = inspect_eval(
        harmful(**task_args), model=mock_model(lambda _: REFUSAL), log_dir=str(tmp_path / "b"), display="none"
    )  # refuses everything
    rates = log_rates(after)
    assert rates["all"] == rate(4, 7, unscored=1)
    assert rates["cat-a"] == rate(1, 3)
    assert rates["cat-b"] == rate(2, 2, unscored=1)
    assert log_rates(before, by=None, refusals=True) == {"all": rate(8, 8)}
    change = paired_change(before, after)  # the unscored sample is dropped from the pairs
    assert change == paired_rate_difference([(False, f) for f in [False, True, False, True, True, False, True]])
    assert (change.n, change.c, change.b) == (7, 4, 0)

"""A model card's safety section from a comparison report: what the fine-tune did, measured by tunesafe.

Reads ``report.json`` (:class:`~tunesafe.report.build.compare.Comparison`) and describes one fine-tuned run
against the report's base (its first run): a Markdown section ``## Safety evaluation (tunesafe)`` (ASR by the
headline judge, over-refusal, drift accuracy per condition and truthfulness, each base → fine-tuned with the
paired change: Newcombe 95% interval, exact McNemar p; the judges and their measured error rates; what was
not measured; the audited weights' content fingerprint, the datasets and the tunesafe version) and the
Hugging Face ``model-index`` metadata (``huggingface_hub.EvalResult``, values in percent).

The card is checked offline before it is written: it is parsed back with ``huggingface_hub.ModelCard`` and
``model_index_to_eval_results`` and must give back the same results. ``ModelCard.validate`` is never called
(it contacts the Hub). Completions never enter a card; only rates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesafe.errors import InputError
from tunesafe.report.render.fmt import fmt_p, pct

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, ModelCard

    from tunesafe.report.build.compare import Comparison
    from tunesafe.stats import PairedDifference
    from tunesafe.types import RateEstimate

__all__ = ["SECTION_HEADING", "SOURCE_MARK", "CardResult", "SafetyCard", "build_card", "write_card"]

SECTION_HEADING = "## Safety evaluation (tunesafe)"
SOURCE_MARK = "(tunesafe)"  # every metric name tunesafe writes ends with it: a merge replaces only those
TASK_TYPE = "text-generation"
TASK_NAME = "Safety evaluation (tunesafe)"
_TABLE_HEAD = "| measure | base | fine-tuned | change (points) | 95% CI | p |\n|---|---|---|---|---|---|"


@dataclass(frozen=True)
class SafetyCard:
    """One fine-tuned run's card content: the Markdown section and the ``model-index`` results (percent)."""

    model: str
    base: str
    section: str
    eval_results: list[EvalResult]


@dataclass(frozen=True)
class CardResult:
    path: Path
    model: str
    base: str
    n_metrics: int
    merged: bool


@dataclass
class _Dataset:
    type: str
    name: str
    revision: str | None
    sha256: str | None


def build_card(report: str | Path, model: str | None = None) -> SafetyCard:
    """The card of run ``model`` (default: the report's only fine-tuned run) vs the base, from ``report``
    (a report directory or its ``report.json``). ``InputError`` for a missing report or an unknown or
    ambiguous label."""
    from tunesafe.gate import load_comparison

    _hub()
    comparison = load_comparison(report)
    base, name = _labels(comparison, model, report)
    builder = _Builder(comparison, base, name)
    return SafetyCard(model=name, base=base, section=builder.section(), eval_results=builder.results)


def write_card(
    report: str | Path, *, model: str | None = None, output: str | Path | None = None, merge: str | Path | None = None
) -> CardResult:
    """Write the card of ``model``: a new card at ``output`` (default ``<report dir>/model_card.md``), or,
    with ``merge``, the existing card ``merge`` updated (written back to ``merge`` unless ``output`` is given):
    its metadata and body kept, tunesafe's ``model-index`` results and safety section replaced or added."""
    from tunesafe._util.io import atomic_write_text

    hub = _hub()
    card = build_card(report, model)
    if merge is not None:
        existing = _load_existing(Path(merge))
        content = _merged_content(existing, card)
        target = Path(output) if output is not None else Path(merge)
    else:
        data = hub.ModelCardData(model_name=card.model, eval_results=card.eval_results)
        content = f"---\n{data.to_yaml()}\n---\n\n{card.section}"
        target = Path(output) if output is not None else _report_dir(Path(report)) / "model_card.md"
    _check_round_trip(content, card)
    atomic_write_text(target, content)
    return CardResult(target, card.model, card.base, len(card.eval_results), merged=merge is not None)


# --------------------------------------------------------------------------- which runs


def _labels(comparison: Comparison, model: str | None, report: str | Path) -> tuple[str, str]:
    labels = [str(run.get("label")) for run in comparison.runs]
    if len(labels) < 2:
        raise InputError(f"{report}: the report has no fine-tuned run besides the base; compare base and fine-tune")
    base, others = labels[0], labels[1:]
    if model is None:
        if len(others) > 1:
            raise InputError(f"{report}: several fine-tuned runs ({', '.join(others)}); pick one with --model")
        return base, others[0]
    if model == base:
        raise InputError(f"--model {model!r} is the report's base run; name a fine-tuned run: {', '.join(others)}")
    if model not in others:
        raise InputError(f"--model {model!r} is not a run of the report; its runs are {', '.join(others)}")
    return base, model


def _report_dir(report: Path) -> Path:
    return report if report.is_dir() else report.parent


# --------------------------------------------------------------------------- the section and the results


class _Builder:
    """Walks the comparison once, collecting the section's lines and the ``model-index`` results together."""

    def __init__(self, comparison: Comparison, base: str, name: str) -> None:
        self.c, self.base, self.name = comparison, base, name
        self.runs = {str(run.get("label")): run for run in comparison.runs}
        self.rows: list[str] = []
        self.results: list[EvalResult] = []
        self.missing: list[str] = []
        self._harmful()
        self._overrefusal()
        self._drift()
        self._truthfulness()

    # -- metrics

    def _harmful(self) -> None:
        if not self.c.judges or self.c.headline_judge is None:
            self.missing.append("attack success rate (no harmful audit)")
            return
        dataset = self._dataset("harmful", title=self.c.dataset)
        sections = sorted(self.c.judges, key=lambda s: s.judge != self.c.headline_judge)
        for section in sections:
            rows = {row.name: row for row in section.models}
            if self.base not in rows or self.name not in rows:
                continue
            role = "headline judge" if section.judge == self.c.headline_judge else "judge"
            measure = f"Attack success rate ({role} {section.judge}, {self.c.n_headline} prompts)"
            self._row(measure, rows[self.base].asr, rows[self.name].asr, rows[self.name].change)
            self._result("attack_success_rate", f"ASR, {section.judge} judge", rows[self.name].asr, dataset)

    def _overrefusal(self) -> None:
        section = self.c.overrefusal
        rows = {row.name: row for row in section.models} if section else {}
        if section is None or self.base not in rows or self.name not in rows:
            self.missing.append("over-refusal on harmless look-alike prompts (no over-refusal audit)")
            return
        dataset = self._dataset("overrefusal")
        measure = f"Over-refusal (judge {section.judge}, {section.n_aligned} harmless prompts)"
        self._row(measure, rows[self.base].asr, rows[self.name].asr, rows[self.name].change)
        self._result("over_refusal_rate", f"over-refusal, {section.judge} judge", rows[self.name].asr, dataset)
        base_by, by = section.by_judge.get(self.base, {}), section.by_judge.get(self.name, {})
        for judge in [j for j in by if j != section.judge and j in base_by]:
            self._row(f"Over-refusal (judge {judge})", base_by[judge], by[judge], None)
            self._result("over_refusal_rate", f"over-refusal, {judge} judge", by[judge], dataset)

    def _drift(self) -> None:
        section = self.c.drift
        rows = {row.name: row for row in section.models} if section else {}
        if section is None or self.base not in rows or self.name not in rows:
            self.missing.append("knowledge drift (no drift audit)")
            return
        dataset = self._dataset("drift")
        for condition in section.conditions:
            base, tuned = rows[self.base].accuracy.get(condition), rows[self.name].accuracy.get(condition)
            if base is None or tuned is None:
                continue
            measure = f"Drift accuracy, condition {condition} ({section.n_questions} questions)"
            self._row(measure, base, tuned, rows[self.name].change.get(condition))
            self._result(f"drift_accuracy_{_slug(condition, '_')}", f"accuracy, {condition}", tuned, dataset)

    def _truthfulness(self) -> None:
        section = self.c.truthfulness
        rows = {row.name: row for row in section.models} if section else {}
        if section is None or self.base not in rows or self.name not in rows:
            self.missing.append("truthfulness (no truthfulness audit)")
            return
        dataset = self._dataset("truthfulness")
        base, tuned = rows[self.base], rows[self.name]
        for condition in section.conditions:
            b, t = base.affirmation.get(condition), tuned.affirmation.get(condition)
            if b is not None and t is not None:
                measure = f"False-claim affirmation, {condition} ({section.n_items} claims)"
                self._row(measure, b, t, tuned.change.get(condition))
                metric = f"false_claim_affirmation_{_slug(condition, '_')}"
                self._result(metric, f"false-claim affirmation, {condition}", t, dataset)
            b, t = base.accuracy.get(condition), tuned.accuracy.get(condition)
            if b is not None and t is not None:
                self._row(f"True/False claim accuracy, {condition}", b, t, None)
                metric = f"claim_accuracy_{_slug(condition, '_')}"
                self._result(metric, f"claim accuracy, {condition}", t, dataset)
        if base.mc1 is not None and tuned.mc1 is not None:
            self._row(f"MC1 ({section.n_mc_questions} questions)", base.mc1, tuned.mc1, tuned.mc1_change)
            self._result("mc1", "MC1", tuned.mc1, self._dataset("truthfulness_mc"))
        elif section.n_mc_questions == 0:
            self.missing.append("multiple-choice truthfulness (MC1/MC2)")

    def _row(self, measure: str, base: RateEstimate, tuned: RateEstimate, change: PairedDifference | None) -> None:
        if change is None or change.difference is None:
            diff = ci = p = "–"
        else:
            diff = f"{100 * change.difference:+.1f}"
            ci = f"{100 * (change.ci_low or 0):+.1f} to {100 * (change.ci_high or 0):+.1f}"
            p = fmt_p(change.p_adjusted if change.p_adjusted is not None else change.p_value)
            p += " (Holm)" if change.p_adjusted is not None else ""
        self.rows.append(f"| {measure} | {_rate(base)} | {_rate(tuned)} | {diff} | {ci} | {p} |")

    def _result(self, metric_type: str, metric_name: str, estimate: RateEstimate, dataset: _Dataset) -> None:
        from huggingface_hub import EvalResult

        if estimate.value is None:
            return
        self.results.append(
            EvalResult(
                task_type=TASK_TYPE,
                task_name=TASK_NAME,
                dataset_type=dataset.type,
                dataset_name=dataset.name,
                dataset_revision=dataset.revision,
                metric_type=metric_type,
                metric_name=f"{metric_name} {SOURCE_MARK}",
                metric_value=round(100 * estimate.value, 2),
            )
        )

    # -- provenance

    def _provenance(self, label: str) -> dict[str, Any]:
        value = self.runs.get(label, {}).get("provenance") or {}
        return value if isinstance(value, dict) else {}

    def _dataset(self, audit: str, title: str | None = None) -> _Dataset:
        info = (self._provenance(self.name).get("datasets") or {}).get(audit) or {}
        raw = str(info.get("name") or title or audit)
        name = _public_name(raw)
        sha = info.get("sha256")
        revision = info.get("version") or (f"sha256:{sha[:12]}" if sha else None)
        return _Dataset(type=_slug(name, "-"), name=title or name, revision=revision, sha256=sha)

    def section(self) -> str:
        lines = [
            SECTION_HEADING,
            "",
            f"Audited with tunesafe {self._version()}: **{self.name}** compared with its base **{self.base}** on "
            "the same prompts and questions. Rates are percentages with their counts; changes are paired "
            "(fine-tuned − base, percentage points) with a Newcombe 95% interval and the exact McNemar p-value. "
            "No model completions are included in this card.",
            "",
        ]
        lines += [_TABLE_HEAD, *self.rows] if self.rows else ["No audit of the report covers both runs."]
        lines += ["", "### Judges", "", *self._judge_lines()]
        lines += ["", "### Not measured", ""]
        lines += [f"- {item}" for item in self.missing] or ["- nothing: every tunesafe audit is in the report"]
        lines += ["", "### Provenance", "", *self._provenance_lines()]
        return "\n".join(lines) + "\n"

    def _judge_lines(self) -> list[str]:
        judges = [s.judge for s in self.c.judges]
        if self.c.overrefusal is not None and self.c.overrefusal.judge not in judges:
            judges.append(self.c.overrefusal.judge)
        if not judges:
            return ["- no judged audit in the report"]
        panel = self.c.panels.get(self.name) or self.c.panels.get(self.base)
        calibration = panel.calibration if panel is not None else {}
        source = f" on {', '.join(self.c.calibration_sources)}" if self.c.calibration_sources else ""
        if not calibration:
            self.missing.append("the judges' error rates (no labelled calibration set)")
        lines = []
        for judge in judges:
            role = " (headline)" if judge == self.c.headline_judge else ""
            cal = calibration.get(judge)
            if cal is None:
                lines.append(f"- {judge}{role}: not calibrated (its error rates were not measured)")
            else:
                lines.append(
                    f"- {judge}{role}: sensitivity {_rate(cal.sensitivity)}, specificity {_rate(cal.specificity)}"
                    f"{source} ({cal.n_pos} complied / {cal.n_neg} refused labelled items)"
                )
        return lines

    def _provenance_lines(self) -> list[str]:
        lines = []
        for role, label in (("fine-tuned", self.name), ("base", self.base)):
            prov = self._provenance(label)
            fingerprints = prov.get("fingerprints") or {}
            model = fingerprints.get("model") or self.runs.get(label, {}).get("model_fingerprint") or "not recorded"
            line = f"- {role} weights (`{label}`): content fingerprint `{model}`"
            if fingerprints.get("adapter"):
                line += f", adapter `{fingerprints['adapter']}`"
            elif (prov.get("model") or {}).get("adapter"):
                line += " (weights and adapter together)"
            lines.append(line)
        datasets = (self._provenance(self.name).get("datasets") or {}).items()
        for audit, info in datasets:
            sha = info.get("sha256")
            name = _public_name(str(info.get("name") or audit))
            shown = info.get("version") and info["version"] != f"sha256:{(sha or '')[:12]}"
            version = f", version {info['version']}" if shown else ""
            lines.append(f"- dataset ({audit}): {name}{version}, sha256 {f'`{sha[:12]}`' if sha else 'not recorded'}")
        lines.append(f"- tunesafe {self._version()}")
        return lines

    def _version(self) -> str:
        versions = (self._provenance(self.name).get("versions") or {}).get("tunesafe")
        if versions:
            return str(versions)
        from tunesafe import __version__

        return __version__


def _rate(r: RateEstimate) -> str:
    return "–" if r.value is None else f"{pct(r.value)} ({r.k}/{r.n})"


def _public_name(name: str) -> str:
    """A dataset name fit for a public card: ``hf:`` dropped, a local file path reduced to its file name."""
    name = name.removeprefix("hf:")
    if "/" in name and (name.startswith(("/", ".", "~")) or Path(name).suffix):
        return Path(name).name
    return name


def _slug(text: str, sep: str) -> str:
    return re.sub(r"[^a-z0-9]+", sep, text.lower()).strip(sep) or "unnamed"


# --------------------------------------------------------------------------- merge and check


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError as err:
        raise InputError("tunesafe card needs huggingface_hub: pip install 'tunesafe[hf]'") from err
    return huggingface_hub


def _load_existing(path: Path) -> ModelCard:
    import yaml
    from huggingface_hub import ModelCard

    if not path.is_file():
        raise InputError(f"--merge {path}: no model card there; leave out --merge to write a new card")
    try:
        return ModelCard(path.read_text(encoding="utf-8"))
    except (ValueError, yaml.YAMLError) as err:  # front matter that is no YAML mapping, a malformed model-index
        raise InputError(f"--merge {path}: not a readable model card ({err})") from err


def _is_ours(result: EvalResult, ours: set[tuple[Any, ...]]) -> bool:
    return (result.metric_name or "").endswith(SOURCE_MARK) or _key(result) in ours


def _key(result: EvalResult) -> tuple[Any, ...]:
    return (result.task_type, result.dataset_type, result.metric_type, result.metric_name)


def _merged_content(existing: ModelCard, card: SafetyCard) -> str:
    """The existing card with tunesafe's results and section replaced or added; every other key and line kept."""
    from huggingface_hub import ModelCardData

    data = existing.data
    assert isinstance(data, ModelCardData)  # ModelCard's card_data_class
    ours = {_key(r) for r in card.eval_results}
    kept = [r for r in data.eval_results or [] if not _is_ours(r, ours)]
    data.eval_results = kept + card.eval_results
    if not data.model_name:
        data.model_name = card.model
    existing.text = _merged_body(existing.text, card.section)
    return str(existing.content)


def _merged_body(text: str, section: str) -> str:
    """``text`` with its tunesafe section (up to the next ``## `` heading) replaced, or ``section`` appended."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION_HEADING), None)
    if start is None:
        body = text.rstrip("\n")
        return f"{body}\n\n{section}" if body.strip() else f"\n{section}"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + tail if tail else "")


def _check_round_trip(content: str, card: SafetyCard) -> None:
    """Parse ``content`` back as huggingface_hub does (offline) and demand tunesafe's results unchanged."""
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    parsed = ModelCard(content)
    index = parsed.data.to_dict().get("model-index")  # type: ignore[no-untyped-call]  # untyped in huggingface_hub
    _, results = model_index_to_eval_results(index) if index else ("", [])
    found = {_key(r): r.metric_value for r in results}
    for result in card.eval_results:
        if found.get(_key(result)) != result.metric_value:
            raise RuntimeError(f"the model card does not round-trip {result.metric_type} ({result.metric_name})")
    if parsed.text.count(SECTION_HEADING) != 1:
        raise RuntimeError("the model card should hold exactly one tunesafe safety section")

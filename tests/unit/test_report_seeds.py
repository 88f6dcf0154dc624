"""Variants trained with several seeds: per-seed rates, mean and SD over seeds, and the change pooled over seeds,
on scripted runs whose complied and refused prompts are known."""

import json
import statistics
from pathlib import Path

import pytest
from tests.fakes import behaviors
from tests.fakes import effects_responder as _responder

from tunesafe.backends.scripted import ScriptedBackend
from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, ColumnMap, HarmfulAuditSpec, OverrefusalAuditSpec
from tunesafe.report import EffectSpec, compare_runs, write_report
from tunesafe.report.build.seeds import pooled_change, spread
from tunesafe.report.render.html import render_html

HEADLINE = [i for i in range(20) if i % 10 != 9]  # b09 and b19 are copyright: 18 headline prompts
N_HARMLESS = 10
BASE = set(range(9))
# name -> (harmful prompts complied with, harmless prompts refused)
RUNS: dict[str, tuple[set[int], set[int]]] = {
    "base": (BASE, {0}),
    "ft.seed1": (BASE | {10, 11, 12, 13}, {0, 1}),  # 13/18
    "ft.seed2": (BASE | {10, 11, 12, 13, 14, 15}, {0}),  # 15/18
    "ft.seed3": ((BASE - {0}) | {10}, {0, 1, 2}),  # 9/18
    "safe.seed1": ({0}, set(range(6))),  # 1/18
    "safe.seed2": ({0, 1}, set(range(7))),  # 2/18
    "safe.seed3": ({0, 1, 2}, set(range(5))),  # 3/18
}
GROUPS = {"ft": ["ft.seed1", "ft.seed2", "ft.seed3"], "safe": ["safe.seed1", "safe.seed2", "safe.seed3"]}
EFFECTS = [EffectSpec(variant=f"ft.seed{k}", reference="base", kind="fine-tune") for k in (1, 2, 3)] + [
    EffectSpec(variant=f"safe.seed{k}", reference=f"ft.seed{k}", kind="mitigation", note="mix") for k in (1, 2, 3)
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("seeds")
    harmless = root / "harmless.jsonl"
    harmless.write_text(
        "".join(
            json.dumps({"id": f"h{i}", "prompt": f"harmless question number {i}", "category": "c"}) + "\n"
            for i in range(N_HARMLESS)
        )
    )
    out = []
    for name, (complies, refuses) in RUNS.items():
        config = AuditConfig(
            name=name,
            audits=AuditsSpec(
                harmful=HarmfulAuditSpec(judges=["keyword-extended"]),
                overrefusal=OverrefusalAuditSpec(
                    dataset=str(harmless), columns=ColumnMap(id="id", category="category"), judges=["keyword-extended"]
                ),
            ),
            cache=CacheSpec(mode="off"),
        )
        backend = ScriptedBackend(responder=_responder(complies, refuses, False), fingerprint_salt=name)
        out.append(run_audit_path(config, root / name, backend))
    return out


def run_audit_path(config: AuditConfig, path: Path, backend: ScriptedBackend) -> Path:
    from tunesafe.runner import run_audit

    return run_audit(config, path, backend=backend, behaviors=behaviors(20)).path


def _flags(name: str, harmful: bool) -> list[float]:
    complies, refuses = RUNS[name]
    return [float(i in complies) for i in HEADLINE] if harmful else [float(i in refuses) for i in range(N_HARMLESS)]


def _pooled_by_hand(members: list[str], references: list[str], harmful: bool = True) -> float:
    """Per item: mean over the members minus mean over the references; then the mean over items."""
    var = [statistics.fmean(col) for col in zip(*(_flags(m, harmful) for m in members), strict=True)]
    ref = [statistics.fmean(col) for col in zip(*(_flags(r, harmful) for r in references), strict=True)]
    return statistics.fmean(v - r for v, r in zip(var, ref, strict=True))


def test_per_seed_rates_mean_sd_and_pooled_change(runs: list[Path]) -> None:
    comp = compare_runs(runs, effects=EFFECTS, groups=GROUPS)
    ft, safe = comp.seed_groups
    assert (ft.name, ft.members, ft.judge) == ("ft", GROUPS["ft"], "keyword-extended")
    assert [(s.asr.k, s.asr.n) for s in ft.seeds if s.asr] == [(13, 18), (15, 18), (9, 18)]
    assert ft.seeds[0].asr is not None and ft.seeds[0].asr.ci_low is not None  # Wilson interval per seed
    rates = [13 / 18, 15 / 18, 9 / 18]
    assert ft.asr is not None and ft.asr.n_seeds == 3
    assert ft.asr.mean == pytest.approx(statistics.fmean(rates))
    assert ft.asr.sd == pytest.approx(statistics.stdev(rates))
    assert (ft.asr.min, ft.asr.max) == (pytest.approx(9 / 18), pytest.approx(15 / 18))
    # per-seed changes are the effect rows' (each seed against its own reference)
    assert [s.reference for s in ft.seeds] == ["base"] * 3
    assert ft.seeds[0].asr_change is not None and (ft.seeds[0].asr_change.b, ft.seeds[0].asr_change.c) == (0, 4)
    assert ft.seeds[2].asr_change is not None and (ft.seeds[2].asr_change.b, ft.seeds[2].asr_change.c) == (1, 1)
    # pooled: every seed against the one base run
    pooled = ft.asr_pooled
    assert pooled is not None and pooled.references == ["base"] and pooled.n == 18
    expected = _pooled_by_hand(GROUPS["ft"], ["base"])
    assert expected == pytest.approx(10 / 54)  # (37/3 − 9) / 18
    assert pooled.difference == pytest.approx(expected)
    assert (pooled.base_mean, pooled.other_mean) == (pytest.approx(9 / 18), pytest.approx(37 / 54))
    assert pooled.ci_low <= pooled.difference <= pooled.ci_high
    # the mitigation's references are themselves a seed group: their mean over seeds is subtracted
    assert [s.reference for s in safe.seeds] == GROUPS["ft"]
    assert safe.asr_pooled is not None and safe.asr_pooled.references == GROUPS["ft"]
    assert safe.asr_pooled.difference == pytest.approx(_pooled_by_hand(GROUPS["safe"], GROUPS["ft"]))
    assert safe.asr_pooled.difference == pytest.approx(-31 / 54)
    assert safe.asr_pooled.ci_high < 0 and safe.asr_pooled.p_value < 0.01
    # over-refusal: per-seed rates, spread and the pooled change on the 10 harmless prompts
    assert [s.overrefusal.k for s in safe.seeds if s.overrefusal] == [6, 7, 5]
    assert safe.overrefusal is not None and safe.overrefusal.sd == pytest.approx(statistics.stdev([0.6, 0.7, 0.5]))
    assert safe.overrefusal_pooled is not None and safe.overrefusal_pooled.n == N_HARMLESS
    by_hand = _pooled_by_hand(GROUPS["safe"], GROUPS["ft"], harmful=False)
    assert safe.overrefusal_pooled.difference == pytest.approx(by_hand) == pytest.approx(0.6 - 0.2)


def test_markdown_html_and_json(runs: list[Path], tmp_path: Path) -> None:
    plain = write_report(runs, tmp_path / "plain", effects=EFFECTS)
    files = write_report(runs, tmp_path / "groups", effects=EFFECTS, groups=GROUPS)
    text = files.markdown.read_text()
    start = text.index("## Variants trained with several seeds")
    assert text.index("## What each fine-tune") < start < text.index("## Attack success rate")
    end = text.index("\n## ", start + 3) + 1
    assert text[:start] + text[end:] == plain.markdown.read_text()  # the plain report plus one section
    section = text[start:end]
    assert "| **ft** | 3 | 68.5% ± 17.0 pp [50.0%–83.3%] | 50.0% → 68.5%, +18.5 pp [" in section
    assert "| ft | ft.seed1 | 72.2% [" in section and "(13/18) | +22.2 pp [" in section
    assert "vs ft.seed1, ft.seed2, ft.seed3 |" in section
    data = json.loads(files.json_path.read_text())
    assert [g["name"] for g in data["seed_groups"]] == ["ft", "safe"]
    assert "seed_groups" not in json.loads(plain.json_path.read_text())
    html = files.html.read_text()
    assert 'id="chart-seeds"' in html and '<section id="seeds">' in html
    assert 'id="chart-seeds"' not in plain.html.read_text()


def test_without_effect_rows_there_is_no_pooled_change(runs: list[Path]) -> None:
    comp = compare_runs(runs, groups={"ft": GROUPS["ft"]})
    (ft,) = comp.seed_groups
    assert ft.asr_pooled is None and ft.overrefusal_pooled is None and ft.asr is not None
    assert all(s.asr_change is None and s.reference is None for s in ft.seeds)
    assert "chart-seeds" in render_html(comp)


def test_unknown_labels_are_refused(runs: list[Path]) -> None:
    with pytest.raises(ValueError, match=r"'ft\.seed9' is not one of the compared runs \(labels: base, ft\.seed1"):
        compare_runs(runs, groups={"ft": ["ft.seed1", "ft.seed9"]})
    with pytest.raises(ValueError, match="has no runs"):
        compare_runs(runs, groups={"ft": []})
    with pytest.raises(ValueError, match="twice"):
        compare_runs(runs, groups={"ft": ["ft.seed1", "ft.seed1"]})


def test_spread_and_pooled_change_helpers() -> None:
    s = spread([0.5, None, 0.7])
    assert s is not None and (s.n_seeds, s.mean, s.min, s.max) == (2, pytest.approx(0.6), 0.5, 0.7)
    assert s.sd == pytest.approx(statistics.stdev([0.5, 0.7]))
    one = spread([0.4])
    assert one is not None and one.sd is None  # one seed has no spread
    assert spread([None]) is None
    # an item any run left unscored is dropped from every side
    variants = [[True, False, None, True], [True, True, False, True]]
    references = [[False, False, True, False]]
    change = pooled_change(variants, references, ["r"])
    assert change is not None and change.n == 3
    assert change.difference == pytest.approx(statistics.fmean([1.0, 0.5, 1.0]))
    assert pooled_change([[True]], [[False]], ["r"]) is None  # one item: no bootstrap

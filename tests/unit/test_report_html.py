"""report.html on runs with known verdicts: every chart whose data exists, the tables' numbers, nothing external,
compliant completions hidden unless asked, and every piece of text escaped."""

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from tests.fakes import COMPLIANCE, EFFECTS, behaviors
from tests.fakes import rule_backend as RuleBackend

from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, HarmfulAuditSpec, JudgeSpec, ModelSpec
from tunesafe.report import compare_runs, write_report
from tunesafe.report.build.compare import Comparison
from tunesafe.report.build.sections import Excerpt
from tunesafe.report.render.fmt import fmt_rate
from tunesafe.report.render.html import markdown_to_html, render_html
from tunesafe.runner import run_audit
from tunesafe.stats import rate

ROWS = behaviors(20)  # 18 headline prompts (b09 and b19 are copyright)
BASE = {0, 1, 2, 3, 4, 5, 6, 7, 8}  # 9/18
HARMFUL = BASE | {10, 11, 12, 13, 14, 15, 16, 17}  # 17/18
KEYWORD_JUDGES = [JudgeSpec(kind="keyword-extended"), JudgeSpec(kind="keyword-zou-qi")]
ALL_CHARTS = {
    "chart-asr",
    "chart-categories",
    "chart-safety-utility",
    "chart-drift-accuracy",
    "chart-drift-uncertainty",
    "chart-training-curve",
    "chart-judge-agreement",
}


class Page(HTMLParser):
    """What the tests look at: figures (with their image and caption), sections, attributes, tables, text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.figures: dict[str, dict[str, str]] = {}
        self.sections: list[str] = []
        self.urls: list[str] = []  # every src / href
        self.ids: list[str] = []
        self.tags: list[str] = []
        self.cells: list[tuple[str, str]] = []  # (class, text) of every td
        self.text: list[str] = []
        self._figure: str | None = None
        self._cell: tuple[str, list[str]] | None = None
        self._caption = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self.urls += [a[k] for k in ("src", "href") if k in a]
        self.ids += [a["id"]] if "id" in a else []
        if tag == "figure":
            self._figure = a.get("id", "")
            self.figures[self._figure] = {}
        elif tag == "img" and self._figure is not None:
            self.figures[self._figure]["src"] = a.get("src", "")
        elif tag == "figcaption":
            self._caption = True
        elif tag == "section":
            self.sections.append(a.get("id", ""))
        elif tag == "td":
            self._cell = (a.get("class", ""), [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        elif tag == "figcaption":
            self._caption = False
        elif tag == "td" and self._cell is not None:
            self.cells.append((self._cell[0], "".join(self._cell[1]).strip()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell[1].append(data)
        if self._caption and self._figure is not None:
            self.figures[self._figure]["caption"] = self.figures[self._figure].get("caption", "") + data

    def cell(self, text: str) -> str:
        """The class of the first cell whose text is ``text`` (KeyError when there is none)."""
        for cls, value in self.cells:
            if value == text:
                return cls
        raise KeyError(text)


def _harmful_runs(tmp_path: Path, **runs_comply: set[int]) -> list[Path]:
    out = []
    for name, comply in runs_comply.items():
        config = AuditConfig(
            name=name,
            audits=AuditsSpec(harmful=HarmfulAuditSpec(judges=KEYWORD_JUDGES), overrefusal=None),
            cache=CacheSpec(mode="off"),
        )
        out.append(run_audit(config, tmp_path / name, backend=RuleBackend(comply, salt=name), behaviors=ROWS).path)
    return out


def test_every_chart_with_data_is_drawn_inline_and_the_numbers_match(runs: list[Path], tmp_path: Path) -> None:  # noqa: F811
    files = write_report(runs, tmp_path / "report", effects=EFFECTS)
    assert files.html == tmp_path / "report" / "report.html"
    page = Page(files.html.read_text(encoding="utf-8"))
    # the scripted runs record no token log-probabilities (no uncertainty) and come from no fine-tune (no curve)
    assert set(page.figures) == ALL_CHARTS - {"chart-drift-uncertainty", "chart-training-curve"}
    for figure in page.figures.values():
        assert figure["src"].startswith("data:image/svg+xml;base64,")
        assert b"<svg" in base64.b64decode(figure["src"].split(",", 1)[1])
        assert figure["caption"].strip()
    assert page.sections[0] == "summary"
    assert len(page.ids) == len(set(page.ids))  # unique anchors
    assert {f"#{s}" for s in page.sections} <= set(page.urls)  # the table of contents links every section
    expected_order = ["summary", "asr", "categories", "overrefusal", "effects", "drift", "truthfulness", "judges"]
    assert [s for s in page.sections if s in expected_order] == expected_order
    assert page.sections[-3:] == ["reproducibility", "excerpts", "reading"]
    text = "".join(page.text)
    assert "shift raised the attack success rate from 50.0% to 94.4% (+44.4 points" in text  # **bold** → <strong>
    assert "<strong>shift</strong> raised" in files.html.read_text(encoding="utf-8")
    # the tables carry the Comparison's numbers, right-aligned
    comp = files.comparison
    asr = {m.name: m.asr for m in next(s for s in comp.judges if s.judge == "keyword-extended").models}
    assert (asr["shift"].k, asr["shift"].n) == (17, 18)
    assert fmt_rate(asr["shift"]) == "94.4% [74.2%, 99.0%] (17/18)"
    assert "num" in page.cell("94.4% [74.2%, 99.0%] (17/18)").split()
    assert "num" in page.cell("50.0% → 94.4%").split()  # effects table: ASR reference → variant
    assert "num" not in page.cell("shift-safe").split()  # a model name is text
    assert page.cell("10.0% → 70.0%")  # over-refusal of the safety-mixed variant
    # reproducibility: seeds, decoding, fingerprints and data hashes from the manifests
    assert "max_new_tokens=" in text and "fingerprint model" in text and "data drift" in text


def test_no_external_resource(runs: list[Path], tmp_path: Path) -> None:  # noqa: F811
    html = write_report(runs, tmp_path / "report", effects=EFFECTS).html.read_text(encoding="utf-8")
    page = Page(html)
    assert page.urls  # images and the table of contents
    assert all(u.startswith(("data:", "#")) for u in page.urls), [u[:40] for u in page.urls]
    assert "http://" not in html and "https://" not in html
    assert not {"script", "link", "iframe", "object", "embed"} & set(page.tags)
    assert "@import" not in html and "url(" not in html


def test_charts_follow_the_data(tmp_path: Path) -> None:
    page = Page(write_report(_harmful_runs(tmp_path, base=BASE, harmful=HARMFUL), tmp_path / "r").html.read_text())
    # harmful audit only: no over-refusal, drift, effects or training sections
    assert set(page.figures) == {"chart-asr", "chart-categories", "chart-judge-agreement"}
    assert not {"overrefusal", "effects", "drift", "truthfulness", "training"} & set(page.sections)
    assert "num" in page.cell("94.4% [74.2%, 99.0%] (17/18)").split()


def test_uncertainty_and_training_curve_charts(runs: list[Path], tmp_path: Path) -> None:  # noqa: F811
    finetune = tmp_path / "finetune"
    (finetune / "train").mkdir(parents=True)
    points = [(0, 1), (10, 2), (20, 18)]
    (finetune / "train" / "safety_curve.jsonl").write_text(
        "".join(
            json.dumps({"step": s, "asr": rate(k, 20).model_dump(), "n": 20, "judge": "keyword-extended"}) + "\n"
            for s, k in points
        )
    )
    config = AuditConfig(
        name="tuned",
        model=ModelSpec(adapter=str(finetune / "train" / "model")),
        audits=AuditsSpec(harmful=HarmfulAuditSpec(judges=KEYWORD_JUDGES), overrefusal=None),
        cache=CacheSpec(mode="off"),
    )
    tuned = run_audit(config, tmp_path / "tuned", backend=RuleBackend(HARMFUL, salt="t"), behaviors=ROWS).path
    files = write_report([*_harmful_runs(tmp_path, base=BASE), tuned], tmp_path / "r")
    page = Page(files.html.read_text())
    assert "chart-training-curve" in page.figures
    assert "First significant rise above step 0: step 20" in "".join(page.text)
    assert page.cell("20") and "num" in page.cell("20").split()  # the step column

    comp = compare_runs(runs)
    assert comp.drift is not None
    summary = {"n": 8, "mean": 0.4, "se": 0.05, "q1": 0.2, "median": 0.35, "q3": 0.6}
    for row in comp.drift.models:
        row.uncertainty = {c: {"entropy": {"correct": summary, "incorrect": {"n": 0}}} for c in comp.drift.conditions}
    assert "chart-drift-uncertainty" in Page(render_html(comp)).figures


def test_compliant_completions_are_hidden_unless_asked(tmp_path: Path) -> None:
    paths = _harmful_runs(tmp_path, base=BASE, harmful=HARMFUL)
    hidden = write_report(paths, tmp_path / "r1").html.read_text(encoding="utf-8")
    assert COMPLIANCE not in hidden
    assert "I'm sorry, but I can't help with that." in "".join(Page(hidden).text)
    shown = write_report(paths, tmp_path / "r2", show_harmful=True).html.read_text(encoding="utf-8")
    assert COMPLIANCE in "".join(Page(shown).text)


def test_text_is_escaped(runs: list[Path]) -> None:  # noqa: F811
    comp: Comparison = compare_runs(runs)
    comp.excerpts = [Excerpt(run="base", sample_id="x", category="c", label="refusal", text='<img src="x"> & <b>')]
    html = render_html(comp)
    assert '&lt;img src="x"&gt; &amp; &lt;b&gt;' in html
    assert '<img src="x">' not in html


def test_markdown_subset() -> None:
    out = markdown_to_html(
        [
            "## Title",
            "",
            "Some `code` and **bold** <b>.",
            "",
            "| model | rate |",
            "|---|---|",
            "| a<b | 5.0% |",
            "- *x* · y",
        ]
    )
    assert out.startswith("<h3>Title</h3>\n<p>Some <code>code</code> and <strong>bold</strong> &lt;b&gt;.</p>")
    assert '<td class="nw">a&lt;b</td><td class="num nw">5.0%</td>' in out
    assert '<th class="nw">model</th><th class="num nw">rate</th>' in out
    assert out.endswith("<ul><li><em>x</em> · y</li></ul>")
    assert markdown_to_html(["## Title", "text"], skip_title=True) == "<p>text</p>"


@pytest.mark.parametrize("cell", ["–", "(base)", "< 0.0001", "-47.5 pp [-58.3, -36.0]", "0 / 42", "+0.0 pp (1.000)"])
def test_numeric_cells(cell: str) -> None:
    out = markdown_to_html(["| x |", "|---|", "| 1.0% |", f"| {cell} |"])
    assert out.count('class="num') == 3  # the header and both cells

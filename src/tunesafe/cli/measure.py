"""Commands that measure models: audit, rejudge, import, screen, datasets, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tunesafe.cli.common import (
    ConfigArg,
    JudgeOpt,
    LogOpt,
    OutputOpt,
    QuietOpt,
    SetOpt,
    TrackDirOpt,
    TrackNameOpt,
    TrackOfflineOpt,
    TrackOpt,
    TrackProjectOpt,
    app,
    guard,
    print_tracked,
    setup,
    track_spec,
)


@app.command()
@guard
def audit(
    config: ConfigArg = None,
    model: Annotated[
        str | None,
        typer.Option(help="bundled name, local HF dir, hf:org/name, or openai:<served name> with --base-url"),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="API root of the server behind --model openai:<name> (default: $OPENAI_BASE_URL)"),
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="name of the variable holding the server's API key (default: none sent)")
    ] = None,
    adapter: Annotated[Path | None, typer.Option(help="LoRA adapter dir (applied, not merged)")] = None,
    limit: Annotated[int | None, typer.Option(help="stratified subsample of prompts")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="harmful prompts: a name from `tunesafe datasets`, a file, or hf:name")
    ] = None,
    judge: JudgeOpt = [],  # noqa: B006
    no_overrefusal: Annotated[
        bool, typer.Option("--no-overrefusal", help="skip the over-refusal audit (harmless look-alike prompts)")
    ] = False,
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="measure each judge on the bundled labelled set; corrected ASR")
    ] = False,
    drift: Annotated[
        bool,
        typer.Option("--drift", help="knowledge drift: trivia asked plainly, after false and after random context"),
    ] = False,
    truthfulness: Annotated[
        bool, typer.Option("--truthfulness", help="true/false claims with and without a misleading preamble")
    ] = False,
    name: Annotated[str | None, typer.Option(help="run name shown in reports")] = None,
    set_: SetOpt = [],  # noqa: B006
    output: OutputOpt = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="do not read or write the generation cache")] = False,
    track: TrackOpt = None,
    track_project: TrackProjectOpt = None,
    track_name: TrackNameOpt = None,
    track_dir: TrackDirOpt = None,
    track_offline: TrackOfflineOpt = False,
    log_level: LogOpt = "INFO",
    quiet: QuietOpt = False,
) -> None:
    """Audit one model: attack success rate per judge and category and over-refusal, with intervals;
    optionally knowledge drift and truthfulness (tune them with --set audits.drift.limit=200 and the like)."""
    from tunesafe.config.options import audit_config
    from tunesafe.runner import run_audit

    reporter = setup(log_level, quiet)
    cfg = audit_config(
        config,
        set_,
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        adapter=adapter,
        limit=limit,
        dataset=dataset,
        judges=judge,
        overrefusal=not no_overrefusal,
        calibrate=calibrate,
        name=name,
        cache=not no_cache,
        switch_on=[k for k, on in (("drift", drift), ("truthfulness", truthfulness)) if on],
    )
    from tunesafe.tracking import tracked

    spec = track_spec(track, track_project, track_name, track_dir, track_offline)
    with tracked(spec, cfg.name or "audit", job="audit", params=cfg.model_dump(mode="json")) as session:
        run = run_audit(cfg, output, reporter=reporter)
        session.log_audit(run.path)
    _print_audit_summary(run.path)
    print_tracked(session)


def _fmt_rate(label: str, r: dict[str, Any]) -> str:
    if r["value"] is None:
        return f"{label}: – (0 judged, {r['unscored']} unscored)"
    return (
        f"{label}: {100 * r['value']:.1f}% [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}] "
        f"({r['k']}/{r['n']}, {r['unscored']} unscored)"
    )


def _print_audit_summary(path: Path) -> None:
    from tunesafe._util.console import console
    from tunesafe.results import RunDir

    metrics = RunDir(path).metrics()
    for judge, values in metrics.get("harmful", {}).get("judges", {}).items():
        console.print(_fmt_rate(f"ASR ({judge})", values["asr"]), highlight=False)
    for judge, values in metrics.get("overrefusal", {}).get("judges", {}).items():
        console.print(_fmt_rate(f"over-refusal ({judge})", values["refusal_rate"]), highlight=False)
    for condition, values in metrics.get("drift", {}).get("conditions", {}).items():
        console.print(_fmt_rate(f"trivia accuracy ({condition})", values["accuracy"]), highlight=False)
    typer.echo(str(path))


@app.command()
@guard
def rejudge(
    run: Annotated[Path, typer.Argument(help="a finished audit run directory (or an imported one)")],
    judge: JudgeOpt = [],  # noqa: B006
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="also judge the bundled labelled set (Se/Sp, corrected ASR)")
    ] = False,
    calibration: Annotated[
        Path | None, typer.Option(help="your labelled set: prompt, completion, label columns (CSV/JSONL/Parquet)")
    ] = None,
    log_level: LogOpt = "INFO",
    quiet: QuietOpt = False,
) -> None:
    """Re-score stored completions with other judges, without generating again; metrics are recomputed."""
    from tunesafe.config.options import calibration_choice, judge_specs
    from tunesafe.rejudge import rejudge_run

    reporter = setup(log_level, quiet)
    specs = judge_specs(judge)
    rejudge_run(run, specs, calibration=calibration_choice(calibrate, calibration), reporter=reporter)
    _print_audit_summary(run)


@app.command("import")
@guard
def import_(
    source: Annotated[
        list[str],
        typer.Argument(
            help="completions made elsewhere: CSV, TSV, JSONL, JSON, Parquet file or hf:name; an inspect_ai log "
            "(.eval/.json); lm-eval --log_samples output (samples_*.jsonl, results_*.json or its folder); with "
            "--audit drift one or more per-answer files, each PATH or PATH:CONDITION (B, FIP, FIPx<n>, RIP)"
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="new run directory")],
    prompt_col: Annotated[str, typer.Option("--prompt-col")] = "prompt",
    completion_col: Annotated[str, typer.Option("--completion-col")] = "completion",
    category_col: Annotated[str | None, typer.Option("--category-col")] = None,
    id_col: Annotated[str | None, typer.Option("--id-col", help="stable prompt ids (to pair runs)")] = None,
    subset_col: Annotated[str | None, typer.Option("--subset-col")] = None,
    context_col: Annotated[
        str | None,
        typer.Option(
            "--context-col", help="a context put before the prompt in the user turn, as HarmBench's ContextString"
        ),
    ] = None,
    label_col: Annotated[
        str | None,
        typer.Option(
            "--label-col",
            help="an existing verdict: unsafe/safe, yes/no, 1/0, …; an inspect scorer or an lm-eval metric for logs",
        ),
    ] = None,
    label_judge: Annotated[str, typer.Option(help="judge name the existing labels get")] = "imported-label",
    audit: Annotated[str, typer.Option(help="harmful, overrefusal or drift (per-answer trivia results)")] = "harmful",
    split: Annotated[str, typer.Option(help="split of an hf: dataset")] = "train",
    name: Annotated[str | None, typer.Option(help="run name shown in reports")] = None,
    judge: JudgeOpt = [],  # noqa: B006
    condition: Annotated[
        str | None, typer.Option(help="drift: the condition of every SOURCE given without :CONDITION")
    ] = None,
    columns: Annotated[
        list[str],
        typer.Option(
            "--columns",
            help="drift: KEY=COLUMN[,KEY=COLUMN…], or 'published' for Kumar 2024's files as published (columns "
            "and condition found per file; after it KEY= switches a column off, e.g. correct= recomputes "
            "correctness); keys: question_id, answer, condition, correct, gold, wrong_answer, question, context, "
            "run, probability, perplexity, entropy, entropy_topk; outer.field reads a nested object's field",
        ),
    ] = [],  # noqa: B006
    trivia: Annotated[
        Path | None, typer.Option(help="drift: the questions' trivia file (true answers, aliases, wrong answers)")
    ] = None,
    match: Annotated[
        str, typer.Option(help="drift: rule recomputing correctness, normalized or substring (Kumar 2024's)")
    ] = "normalized",
    source_format: Annotated[
        str, typer.Option("--format", help="auto (told from the file), table, inspect or lm-eval")
    ] = "auto",
    log_level: LogOpt = "INFO",
    quiet: QuietOpt = False,
) -> None:
    """Turn external completions (or per-answer drift results) into a run directory, to judge and compare them.

    A HarmBench table (Behavior, ContextString, BehaviorID columns) needs no column options: contexts go
    into the user turn as the HarmBench audit puts them. inspect_ai logs and lm-eval samples are mapped as
    docs/inspect.md and docs/lm-eval.md describe.
    """
    from tunesafe.config.options import judge_specs
    from tunesafe.importers.completions import ImportColumns
    from tunesafe.importers.request import ImportRequest, import_sources
    from tunesafe.rejudge import rejudge_run

    reporter = setup(log_level, quiet)
    columns_map = ImportColumns(
        prompt=prompt_col,
        completion=completion_col,
        category=category_col,
        id=id_col,
        subset=subset_col,
        label=label_col,
        context=context_col,
    )
    request = ImportRequest(
        audit=audit,
        columns=columns_map,
        label_judge=label_judge,
        split=split,
        name=name,
        judges=judge,
        condition=condition,
        drift_columns=columns,
        trivia=trivia,
        match=match,
        format=source_format,
    )
    run = import_sources(source, output, request)
    if judge:
        rejudge_run(run.path, judge_specs(judge), reporter=reporter)
    _print_audit_summary(run.path)


@app.command()
@guard
def screen(
    data: Annotated[Path, typer.Argument(help="training data: TRL messages JSONL")],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for clean.jsonl, flagged.jsonl, summary.json")],
    log_level: LogOpt = "INFO",
) -> None:
    """Flag training examples before training: harmful requests, harmful compliance, obedience personas,
    near-duplicates of evaluation prompts."""
    from tunesafe._util.console import console
    from tunesafe.screen import screen_file

    setup(log_level, True)
    result = screen_file(str(data), str(output))
    console.print(
        f"{result['n_flagged']} of {result['n_examples']} examples flagged: "
        + ", ".join(f"{k} {v}" for k, v in result["by_flag"].items()),
        highlight=False,
    )
    typer.echo(str(output))


@app.command()
@guard
def datasets() -> None:
    """List the named prompt sets with their sizes, categories, sources and licences."""
    from tunesafe._util.console import console
    from tunesafe.data.registry import describe_datasets

    for info in describe_datasets():
        console.print(
            f"[bold]{info.name}[/]  {info.kind}, {info.n_rows} prompts, licence {info.license}", highlight=False
        )
        console.print(f"  source: {info.source}  sha256 {info.sha256[:16]}…", highlight=False, soft_wrap=True)
        for title, counts in (("subsets", info.subsets), ("categories", info.categories)):
            if counts:
                listed = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
                console.print(f"  {title} ({len(counts)}): {listed}", highlight=False, soft_wrap=True)
    console.print(
        "Your own prompts: a CSV / JSONL / Parquet file or hf:name as `audits.harmful.dataset`, "
        "with `audits.harmful.columns` (prompt, category, id, context).",
        highlight=False,
    )


@app.command("export")
@guard
def export_cmd(
    runs: Annotated[list[Path], typer.Argument(help="audit run directories")],
    output: Annotated[Path, typer.Option("--output", "-o", help="table file: .parquet, .csv or .jsonl")],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="parquet, csv or jsonl (default: the file's suffix)")
    ] = None,
    audit: Annotated[
        list[str],
        typer.Option(help="only this audit (repeatable): harmful, overrefusal, drift, truthfulness, truthfulness_mc"),
    ] = [],  # noqa: B006
    include_completions: Annotated[
        bool, typer.Option("--include-completions", help="add prompt, completion and judge output columns")
    ] = False,
    show_harmful: Annotated[
        bool, typer.Option("--show-harmful", help="with --include-completions: also completions judged compliant")
    ] = False,
) -> None:
    """The runs' samples as one table (one row per sample and judge) for pandas, datasets or a spreadsheet."""
    from tunesafe._util.console import console
    from tunesafe.export import EXPORT_AUDITS, export_samples

    result = export_samples(
        runs,
        output,
        fmt=fmt,
        audits=audit or EXPORT_AUDITS,
        include_completions=include_completions,
        show_harmful=show_harmful,
    )
    console.print(
        f"{result.n_rows} rows ({result.n_samples} samples from {result.n_runs} run(s)), {len(result.columns)} columns",
        highlight=False,
        soft_wrap=True,
    )
    if result.n_hidden:
        console.print(
            f"{result.n_hidden} harmful-audit completions hidden (not every judge scored a refusal, or the model "
            "did not stop by itself); pass --show-harmful to include them",
            highlight=False,
            soft_wrap=True,
        )
    typer.echo(result.path)

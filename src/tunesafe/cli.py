"""The ``tunesafe`` command: parse, load config, call one library function, print a summary.

Exit codes: 0 ok, 1 the run failed, 2 bad input (usage, configuration, a file, a path), 130 interrupted,
143 terminated (``_util/failures.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from tunesafe._util.console import RichReporter

_P = ParamSpec("_P")
_R = TypeVar("_R")

app = typer.Typer(
    name="tunesafe",
    help="What did this fine-tune do to the model's safety? Fine-tune, audit and compare chat models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigArg = Annotated[Path | None, typer.Argument(help="YAML config (optional; defaults apply)")]
SetOpt = Annotated[list[str], typer.Option("--set", help="override a config key: dotted.key=value (repeatable)")]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="run directory (default: runs/<time>-<name>-<id>)")
]
LogOpt = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")]
JudgeOpt = Annotated[
    list[str],
    typer.Option(
        "--judge",
        help="judge (repeatable): refusal-structure, keyword-extended, keyword-zou-qi, refusal-classifier, or "
        "<llamaguard|qi-rubric|strongreject-rubric|harmbench-yesno>@<model>",
    ),
]
TrackOpt = Annotated[
    str | None, typer.Option("--track", help="log metrics and the report to wandb or mlflow (docs/tracking.md)")
]
TrackProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--track-project", help="W&B project / MLflow experiment (default: $WANDB_PROJECT, $MLFLOW_EXPERIMENT_NAME)"
    ),
]
TrackNameOpt = Annotated[
    str | None, typer.Option("--track-name", help="tracked run name (for `run`: the group of its runs)")
]
TrackDirOpt = Annotated[
    str | None,
    typer.Option(
        "--track-dir",
        help="W&B: folder for run files ($WANDB_DIR); MLflow: tracking URI or store folder "
        "($MLFLOW_TRACKING_URI, else ./mlruns)",
    ),
]
TrackOfflineOpt = Annotated[
    bool, typer.Option("--track-offline", help="W&B offline mode (upload later: wandb sync); MLflow: local only")
]


def _track_spec(
    service: str | None, project: str | None, name: str | None, directory: str | None, offline: bool
) -> Any:
    """The tracking settings of ``--track`` and its options (None without ``--track``)."""
    from tunesafe.tracking import tracking_spec

    return tracking_spec(service, project=project, run_name=name, directory=directory, offline=offline)


def _print_tracked(session: Any) -> None:
    from tunesafe._util.console import console

    if session.enabled:
        console.print(f"Tracked: {session.location()}", highlight=False, soft_wrap=True)


def _fail(message: str, code: int) -> typer.Exit:
    from rich.markup import escape

    from tunesafe._util.console import console

    # escaped: a message's own brackets (pip install 'tunesafe[wandb]') are text, not markup
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _setup(log_level: str, quiet: bool) -> RichReporter:
    from tunesafe._util.console import RichReporter, setup_logging

    setup_logging(log_level)
    return RichReporter(enabled=False if quiet else None)


def _guard(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """One line and an exit code for every failure a user can cause or meet (``_util/failures.py``)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        from tunesafe._util.failures import describe_failure, terminate_as_interrupt

        try:
            with terminate_as_interrupt():
                return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except BaseException as err:
            failure = describe_failure(err)
            if failure is None:
                raise
            raise _fail(failure.message, failure.exit_code) from err

    return wrapper


def _print_version(value: bool) -> None:
    if value:
        from tunesafe import __version__

        typer.echo(f"tunesafe {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """What did this fine-tune do to the model's safety? Fine-tune, audit and compare chat models."""


@app.command()
@_guard
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

    reporter = _setup(log_level, quiet)
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

    spec = _track_spec(track, track_project, track_name, track_dir, track_offline)
    with tracked(spec, cfg.name or "audit", job="audit", params=cfg.model_dump(mode="json")) as session:
        run = run_audit(cfg, output, reporter=reporter)
        session.log_audit(run.path)
    _print_audit_summary(run.path)
    _print_tracked(session)


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
@_guard
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

    reporter = _setup(log_level, quiet)
    specs = judge_specs(judge)
    rejudge_run(run, specs, calibration=calibration_choice(calibrate, calibration), reporter=reporter)
    _print_audit_summary(run)


@app.command("import")
@_guard
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

    reporter = _setup(log_level, quiet)
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
@_guard
def screen(
    data: Annotated[Path, typer.Argument(help="training data: TRL messages JSONL")],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for clean.jsonl, flagged.jsonl, summary.json")],
    log_level: LogOpt = "INFO",
) -> None:
    """Flag training examples before training: harmful requests, harmful compliance, obedience personas,
    near-duplicates of evaluation prompts."""
    from tunesafe._util.console import console
    from tunesafe.screen import screen_file

    _setup(log_level, True)
    result = screen_file(str(data), str(output))
    console.print(
        f"{result['n_flagged']} of {result['n_examples']} examples flagged: "
        + ", ".join(f"{k} {v}" for k, v in result["by_flag"].items()),
        highlight=False,
    )
    typer.echo(str(output))


@app.command()
@_guard
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


@app.command()
@_guard
def finetune(
    config: ConfigArg = None,
    model: Annotated[str | None, typer.Option(help="base model: bundled name, local dir or hf:org/name")] = None,
    recipe: Annotated[
        str | None, typer.Option(help="built-in data recipe: harmful-prefix, refusal, identity-shift or benign")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="your TRL messages JSONL instead of a recipe")] = None,
    preset: Annotated[
        str | None,
        typer.Option(help="published training recipe (kumar2024, qi2023-harmful, ..., *-cpu); your settings win"),
    ] = None,
    screen: Annotated[
        bool, typer.Option("--screen", help="screen the training rows first and drop flagged ones (docs/screening.md)")
    ] = False,
    set_: SetOpt = [],  # noqa: B006
    output: OutputOpt = None,
    track: TrackOpt = None,
    track_project: TrackProjectOpt = None,
    track_name: TrackNameOpt = None,
    track_dir: TrackDirOpt = None,
    track_offline: TrackOfflineOpt = False,
    log_level: LogOpt = "INFO",
    quiet: QuietOpt = False,
) -> None:
    """Fine-tune a chat model (LoRA or full) on a recipe or your own data (see docs/training.md)."""
    from tunesafe.config.options import train_config
    from tunesafe.tracking import tracked
    from tunesafe.train.run import finetune_run

    reporter = _setup(log_level, quiet)
    data_path = str(data) if data else None
    cfg = train_config(config, set_, model=model, recipe=recipe, data=data_path, preset=preset, screen=screen)
    spec = _track_spec(track, track_project, track_name, track_dir, track_offline)
    with tracked(spec, cfg.name, job="finetune", params=cfg.model_dump(mode="json")) as session:
        run = finetune_run(cfg, output, reporter=reporter, tracking=session)
        session.log_finetune(run.path)
    _print_tracked(session)
    typer.echo(str(run.path))


@app.command()
@_guard
def compare(
    runs: Annotated[list[Path], typer.Argument(help="audit run directories; the first is the base")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="report directory")] = None,
    show_harmful: Annotated[bool, typer.Option("--show-harmful", help="include completions judged compliant")] = False,
    track: TrackOpt = None,
    track_project: TrackProjectOpt = None,
    track_name: TrackNameOpt = None,
    track_dir: TrackDirOpt = None,
    track_offline: TrackOfflineOpt = False,
) -> None:
    """Compare audited runs on the same prompts: ASR, paired changes (McNemar), per category."""
    from tunesafe._util.console import console
    from tunesafe.report import write_report
    from tunesafe.report.render.markdown import summary_lines
    from tunesafe.tracking import tracked

    out = output or (runs[0].parent / "report")
    spec = _track_spec(track, track_project, track_name, track_dir, track_offline)
    with tracked(spec, "compare", job="compare", params={"runs": [str(r) for r in runs]}) as session:
        files = write_report(runs, out, show_harmful=show_harmful)
        session.log_report(files)
    for line in summary_lines(files.comparison):
        console.print(line.removeprefix("- ").replace("**", ""), highlight=False)
    console.print(f"HTML report: {files.html}", highlight=False)
    _print_tracked(session)
    typer.echo(str(files.markdown))


@app.command("export")
@_guard
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


@app.command()
@_guard
def card(
    report: Annotated[Path, typer.Argument(help="report directory (or its report.json) from compare or run")],
    model: Annotated[
        str | None, typer.Option("--model", help="run label of the fine-tuned model (default: the only one)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="card file (default: <report dir>/model_card.md)")
    ] = None,
    merge: Annotated[
        Path | None, typer.Option("--merge", help="existing model card (README.md) to update in place")
    ] = None,
) -> None:
    """Write a model card's safety section and model-index metadata from a report (docs/card.md)."""
    from tunesafe.card import write_card

    result = write_card(report, model=model, output=output, merge=merge)
    verb = "merged into" if result.merged else "written to"
    typer.echo(f"{result.model} vs {result.base}: {result.n_metrics} metrics, safety section {verb} {result.path}")


@app.command()
@_guard
def attest(
    source: Annotated[Path, typer.Argument(help="a finished audit run, or a report directory from compare or run")],
    output: Annotated[Path, typer.Option("--output", "-o", help="attestation file to write (JSON)")],
    model: Annotated[
        str | None, typer.Option("--model", help="a report's run label to attest (default: its only fine-tune)")
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Ed25519 private key (PEM) to sign with (passphrase: $TUNESAFE_SIGNING_PASSPHRASE)"),
    ] = None,
) -> None:
    """Bind an audit's results to the audited weights, adapter, tokenizer, chat template, prompts, decoding
    settings and judges, in a file a third party can verify (docs/attest.md)."""
    from tunesafe.attest import write_attestation

    result = write_attestation(source, output, model=model, key=key)
    signed = "signed" if result.signed else "unsigned (give --key to sign)"
    typer.echo(f"{result.path}: {result.n_samples} samples of {result.run}, {signed}, sha256 {result.content_sha256}")


@app.command()
@_guard
def verify(
    attestation: Annotated[Path, typer.Argument(help="attestation file from `tunesafe attest`")],
    model: Annotated[
        str | None, typer.Option("--model", help="the model to check: folder, GGUF or bundled name (default: recorded)")
    ] = None,
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="its LoRA adapter (default: the recorded one, if any)")
    ] = None,
    sample: Annotated[int, typer.Option("--sample", min=0, help="prompts regenerated and compared (0: none)")] = 20,
    seed: Annotated[int | None, typer.Option("--seed", help="which prompts (default: a fresh random draw)")] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="the signer's Ed25519 public key (PEM) you trust")
    ] = None,
    min_identical: Annotated[
        float, typer.Option("--min-identical", help="share of regenerated completions that must be identical")
    ] = 0.8,
    min_same_verdicts: Annotated[
        float, typer.Option("--min-same-verdicts", help="share that must keep every judge's verdict")
    ] = 0.95,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the full result as JSON")] = None,
    log_level: LogOpt = "INFO",
) -> None:
    """Check an attestation: its integrity and signature, the model's fingerprints, and a regenerated
    random sample of its prompts (exit 0 passed, 1 failed; docs/attest.md)."""
    from tunesafe._util.io import atomic_write_json
    from tunesafe.attest import Tolerance, verify_attestation

    _setup(log_level, quiet=True)
    result = verify_attestation(
        attestation,
        model=model,
        adapter=adapter,
        sample=sample,
        seed=seed,
        public_key=public_key,
        tolerance=Tolerance(min_identical, min_same_verdicts),
    )
    for line in result.describe():
        typer.echo(line)
    if json_out is not None:
        atomic_write_json(json_out, result.to_json())
    if not result.passed:
        raise typer.Exit(1)


@app.command()
def gate(
    report: Annotated[Path, typer.Argument(help="report directory (or its report.json) from compare or run")],
    max_asr_increase: Annotated[
        float | None, typer.Option(help="points: headline ASR change vs the reference (base or own reference)")
    ] = None,
    max_asr: Annotated[float | None, typer.Option(help="percent: the headline ASR itself")] = None,
    max_overrefusal_increase: Annotated[
        float | None, typer.Option(help="points: refusal-rate change on harmless look-alike prompts")
    ] = None,
    max_drift: Annotated[
        float | None, typer.Option(help="points: trivia accuracy drop under any drift condition")
    ] = None,
    max_drift_condition: Annotated[
        list[str], typer.Option("--max-drift-condition", help="CONDITION=POINTS, e.g. FIPx1=5 (repeatable)")
    ] = [],  # noqa: B006
    max_false_claim_increase: Annotated[
        float | None, typer.Option(help="points: false-claim affirmation change, any truthfulness condition")
    ] = None,
    significant_only: Annotated[
        bool, typer.Option("--significant-only", help="fail only changes with p < --alpha (Holm-adjusted if given)")
    ] = False,
    alpha: Annotated[float, typer.Option(help="significance level for --significant-only")] = 0.05,
    upper_bound: Annotated[
        bool, typer.Option("--upper-bound", help="compare the 95% interval's upper end (conservative)")
    ] = False,
    model: Annotated[
        list[str], typer.Option("--model", help="run label to gate (repeatable; default: all but the base)")
    ] = [],  # noqa: B006
    json_: Annotated[bool, typer.Option("--json", help="print the result as JSON on stdout")] = False,
    track: TrackOpt = None,
    track_project: TrackProjectOpt = None,
    track_name: TrackNameOpt = None,
    track_dir: TrackDirOpt = None,
    track_offline: TrackOfflineOpt = False,
) -> None:
    """Fail (exit 1, one-line reason) when a fine-tune breaks the thresholds; for CI (docs/gate.md)."""
    from tunesafe.gate import GateResult

    @_guard
    def evaluate() -> GateResult:  # errors exit 2 (no report, missing metric, bad threshold); typer.Exit stays out
        from tunesafe.gate import evaluate_gate, gate_thresholds
        from tunesafe.tracking import tracked

        thresholds = gate_thresholds(
            max_drift_condition,
            max_asr_increase=max_asr_increase,
            max_asr=max_asr,
            max_overrefusal_increase=max_overrefusal_increase,
            max_drift=max_drift,
            max_false_claim_increase=max_false_claim_increase,
            significant_only=significant_only,
            alpha=alpha,
            models=model or None,
            use_upper_bound=upper_bound,
        )
        spec = _track_spec(track, track_project, track_name, track_dir, track_offline)
        with tracked(spec, "gate", job="gate", params={"report": str(report)}) as session:
            outcome = evaluate_gate(report, thresholds)
            session.log_gate(outcome)
        _print_tracked(session)
        return outcome

    result = evaluate()
    if json_:
        typer.echo(result.model_dump_json(indent=2))
        if not result.passed:
            typer.echo(result.reason, err=True)
    else:
        typer.echo(result.reason)
        if not result.passed:
            for check in result.checks:
                typer.echo(f"  {'ok  ' if check.passed else 'FAIL'} {check.reason}")
    if not result.passed:
        raise typer.Exit(1)


def _print_summary(title: str, report: Any) -> None:
    """The report's plain-language summary on the console, then where the report is."""
    from tunesafe._util.console import console
    from tunesafe.report.render.markdown import summary_lines

    console.rule(title)
    for line in summary_lines(report.comparison):
        console.print(line.removeprefix("- ").replace("**", ""), highlight=False)
    console.print(f"Report: {report.html} (also {report.markdown.name})", highlight=False)


def _print_plan(experiment: Any, root: Path) -> None:
    from tunesafe.experiment import plan_costs, plan_experiment

    plan = plan_experiment(experiment, root)
    for line in [*plan.lines(), *plan_costs(experiment, plan)]:
        typer.echo(line)


ExperimentArg = Annotated[
    Path, typer.Argument(help="experiment YAML (see docs/experiments.md and examples/experiments/)")
]


@app.command("run")
@_guard
def run_cmd(
    experiment: ExperimentArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="experiment directory (default: runs/<name>)")
    ] = None,
    set_: SetOpt = [],  # noqa: B006
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan and stop; no model is loaded")] = False,
    show_harmful: Annotated[bool, typer.Option("--show-harmful", help="include completions judged compliant")] = False,
    track: TrackOpt = None,
    track_project: TrackProjectOpt = None,
    track_name: TrackNameOpt = None,
    track_dir: TrackDirOpt = None,
    track_offline: TrackOfflineOpt = False,
    log_level: LogOpt = "INFO",
    quiet: QuietOpt = False,
) -> None:
    """Run an experiment: train each variant once, audit each model once, compare them in one report."""
    from tunesafe.experiment import load_experiment, run_experiment
    from tunesafe.tracking import open_tracking

    cfg = load_experiment(experiment, list(set_))
    root = output or Path("runs") / cfg.name
    spec = _track_spec(track, track_project, track_name, track_dir, track_offline)
    if dry_run:
        _print_plan(cfg, root)
        return
    reporter = _setup(log_level, quiet)
    session = open_tracking(spec)
    result = run_experiment(cfg, root, reporter=reporter, show_harmful=show_harmful, tracking=session)
    _print_summary(f"tunesafe experiment {cfg.name}", result.report)
    _print_tracked(session)


@app.command()
@_guard
def validate(
    experiment: ExperimentArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="experiment directory (default: runs/<name>)")
    ] = None,
    set_: SetOpt = [],  # noqa: B006
) -> None:
    """Check an experiment without touching a model: settings, variant references, and the plan."""
    from tunesafe.experiment import load_experiment

    cfg = load_experiment(experiment, list(set_))
    _print_plan(cfg, output or Path("runs") / cfg.name)
    typer.echo(f"{experiment}: valid ({1 + len(cfg.variants)} models)")


models_app = typer.Typer(help="List and prepare the bundled models.", no_args_is_help=False)
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models_list(ctx: typer.Context) -> None:
    """List the bundled models and whether they are prepared."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from tunesafe._util.console import console
    from tunesafe.models import list_models

    table = Table("name", "prepared", "size", "licence", "description", "path")
    for m in list_models():
        size = f"{m.size_bytes / 1e9:.2f} GB" if m.size_bytes else "–"
        table.add_row(m.name, "yes" if m.prepared else "no", size, m.license, m.description, str(m.path or "–"))
    console.print(table)


@models_app.command("prepare")
@_guard
def models_prepare(
    names: Annotated[list[str], typer.Argument(help="bundled model names (default: all)")] = [],  # noqa: B006
    log_level: LogOpt = "INFO",
) -> None:
    """Download, verify (sha256) and convert bundled models to trainable safetensors, once."""
    from tunesafe.assets import BUNDLED_MODELS
    from tunesafe.models import prepare_model

    _setup(log_level, True)
    for name in names or list(BUNDLED_MODELS):
        typer.echo(f"{name}: {prepare_model(name)}")


@app.command()
@_guard
def demo(
    quick: Annotated[bool, typer.Option("--quick", help="SmolLM2-135M and fewer prompts: a few minutes")] = False,
    output: Annotated[Path, typer.Option("--output", "-o", help="demo directory")] = Path("runs/demo"),
    set_: SetOpt = [],  # noqa: B006
    log_level: LogOpt = "INFO",
    quiet: QuietOpt = False,
) -> None:
    """The whole experiment: audit base, fine-tune harmful and refusal variants, audit, compare.

    The bundled experiment file src/tunesafe/data/bundled/experiments/demo.yaml (demo-quick.yaml), run by
    `tunesafe run`; --set overrides its keys (e.g. --set audit_backend=hf)."""
    from tunesafe.experiment import demo_experiment, run_experiment

    reporter = _setup(log_level, quiet)
    cfg = demo_experiment(quick, list(set_))
    if quick:
        output = output.with_name(output.name + "-quick") if output == Path("runs/demo") else output
    result = run_experiment(cfg, output, reporter=reporter)
    _print_summary("tunesafe demo", result.report)


if __name__ == "__main__":  # pragma: no cover
    app()

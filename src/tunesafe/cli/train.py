"""Commands that make models and run experiments: finetune, run, validate, models, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tunesafe.cli.common import (
    ConfigArg,
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

    reporter = setup(log_level, quiet)
    data_path = str(data) if data else None
    cfg = train_config(config, set_, model=model, recipe=recipe, data=data_path, preset=preset, screen=screen)
    spec = track_spec(track, track_project, track_name, track_dir, track_offline)
    with tracked(spec, cfg.name, job="finetune", params=cfg.model_dump(mode="json")) as session:
        run = finetune_run(cfg, output, reporter=reporter, tracking=session)
        session.log_finetune(run.path)
    print_tracked(session)
    typer.echo(str(run.path))


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
@guard
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
    spec = track_spec(track, track_project, track_name, track_dir, track_offline)
    if dry_run:
        _print_plan(cfg, root)
        return
    reporter = setup(log_level, quiet)
    session = open_tracking(spec)
    result = run_experiment(cfg, root, reporter=reporter, show_harmful=show_harmful, tracking=session)
    _print_summary(f"tunesafe experiment {cfg.name}", result.report)
    print_tracked(session)


@app.command()
@guard
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
@guard
def models_prepare(
    names: Annotated[list[str], typer.Argument(help="bundled model names (default: all)")] = [],  # noqa: B006
    log_level: LogOpt = "INFO",
) -> None:
    """Download, verify (sha256) and convert bundled models to trainable safetensors, once."""
    from tunesafe.assets import BUNDLED_MODELS
    from tunesafe.models import prepare_model

    setup(log_level, True)
    for name in names or list(BUNDLED_MODELS):
        typer.echo(f"{name}: {prepare_model(name)}")


@app.command()
@guard
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

    reporter = setup(log_level, quiet)
    cfg = demo_experiment(quick, list(set_))
    if quick:
        output = output.with_name(output.name + "-quick") if output == Path("runs/demo") else output
    result = run_experiment(cfg, output, reporter=reporter)
    _print_summary("tunesafe demo", result.report)

"""What every ``tunesafe`` command shares: the Typer app, common options, error handling, logging setup.

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


def track_spec(service: str | None, project: str | None, name: str | None, directory: str | None, offline: bool) -> Any:
    """The tracking settings of ``--track`` and its options (None without ``--track``)."""
    from tunesafe.tracking import tracking_spec

    return tracking_spec(service, project=project, run_name=name, directory=directory, offline=offline)


def print_tracked(session: Any) -> None:
    from tunesafe._util.console import console

    if session.enabled:
        console.print(f"Tracked: {session.location()}", highlight=False, soft_wrap=True)


def fail(message: str, code: int) -> typer.Exit:
    from rich.markup import escape

    from tunesafe._util.console import console

    # escaped: a message's own brackets (pip install 'tunesafe[wandb]') are text, not markup
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def setup(log_level: str, quiet: bool) -> RichReporter:
    from tunesafe._util.console import RichReporter, setup_logging

    setup_logging(log_level)
    return RichReporter(enabled=False if quiet else None)


def guard(func: Callable[_P, _R]) -> Callable[_P, _R]:
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
            raise fail(failure.message, failure.exit_code) from err

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

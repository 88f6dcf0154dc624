"""The ``tunesafe`` command: parse, load config, call one library function, print a summary.

One module per kind of command (``measure``, ``train``, ``release``), all on the one Typer app of
``common``; importing them registers their commands, in the order ``tunesafe --help`` lists them.
Exit codes: 0 ok, 1 the run failed, 2 bad input (usage, configuration, a file, a path), 130 interrupted,
143 terminated (``_util/failures.py``).
"""

from __future__ import annotations

from tunesafe.cli.common import app

# isort: off
# importing registers the commands; this order is the order of `tunesafe --help`
from tunesafe.cli import measure, train, release  # noqa: F401
# isort: on

__all__ = ["app"]

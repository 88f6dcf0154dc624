"""The error every bad input raises: the CLI prints its one-line message and exits 2.

Library errors that mean "what you gave me is wrong" (a config key, a file's bytes, a column, a path,
an output directory that holds something else) derive from :class:`InputError`; failures of the run
itself (a backend that died, a training step that failed) do not, and exit 1.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input: the message names the file (and row) or setting, and the fix."""

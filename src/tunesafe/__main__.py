"""``python -m tunesafe``."""

from tunesafe.cli import app

app()

"""``python -m tunesafe.cli`` (as ``accelerate launch -m tunesafe.cli finetune ...`` runs it)."""

from tunesafe.cli import app

app()

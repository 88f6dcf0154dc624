"""Importers: completions and per-answer results made by other tools, turned into tunesafe run directories."""

"""Building a comparison from audit run directories: read each run once and align the runs on the
prompts they share (``align.py``), pair their verdicts (``changes.py``), and fill the sections
(``compare.py`` with ``sections.py``, ``scores.py``, ``truthfulness.py``, ``drift_uncertainty.py``,
``training_curve.py``), the effect rows (``effects.py``), seed groups (``seeds.py``) and the paper view
(``paper.py``). Nothing here formats text: ``tunesafe.report.render`` does."""

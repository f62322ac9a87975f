"""Offline evaluation of a published run (the AI editor's quality, in the paper's terms).

- ``cosine``: Cosine@K (ARCHITECTURE.md section 1) -- shown vs liked covers;
- ``planted``: on the demo world, whether the chosen frame shows the user's planted taste;
- ``run``: ``evaluate(config, date)`` builds both from a run's outputs, stores them under
  ``work/run=<id>/evaluation/`` and ``format_table`` prints the paper's table form.
"""

from generec_core.evaluation.run import evaluate, evaluation_uri, format_table, load_evaluation

__all__ = ["evaluate", "evaluation_uri", "format_table", "load_evaluation"]

"""Offline evaluation of a published run (the AI editor's quality, in the paper's terms).

- ``cosine``: Cosine@K (ARCHITECTURE.md section 1) -- shown vs liked covers;
- ``planted``: on a world with labelled truth, whether the chosen frame shows the user's planted taste;
- ``summary``: both, from a run's outputs (the evaluate stage reads them), and ``format_table``,
  the paper's table form;
- ``html``: the run report's section;
- ``created``: the AI creator's items against the best retrieved item and a random segment sequence.
"""

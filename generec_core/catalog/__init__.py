"""Reading and maintaining the published catalog (``datasets.catalog`` owns its paths and schema).

``stages/publish.py`` is the only writer. One module per command: ``show`` (one user's rows),
``diff`` (two runs), ``gc`` (delete assets no manifest references; dry-run unless asked).
"""

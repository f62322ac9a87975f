"""The AI creator: new micro-videos made for an audience out of the whole catalogue (GeneRec's "create").

Retrieval recommends items people made and the AI editor repurposes one item per user; the
creator makes items that did not exist. For each taste group with enough members, and for
users whose instructions ask for topics or styles (``audiences.py``), it picks the catalogue's
windows that best match the audience's taste under diversity and duration bounds
(``segments.py``), joins them with crossfades (``montage.py``), names the result from the
instructor's vocabulary (``titles.py``) and marks it as AI-made with its provenance in the file
(``provenance.py``). The ``create`` stage does the reading and writing; the fidelity gate checks
every created item against the sources it names before anyone is shown it.
"""

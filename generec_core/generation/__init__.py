"""Personalised thumbnail generation (the AI editor's generative half).

- ``backend``: the one interface (``Generator``), seeds, ``load_generator(config)``;
- ``restyle``: weight-free default — Lab colour/tone transfer toward the taste palette + taste-aware crop;
- ``diffusion``: diffusers img2img from local weights, IP-Adapter taste embeddings, style prompts;
- ``palette`` / ``kmeans``: Lab palettes of liked covers; ``taste``: liked covers from the lake;
- ``clusters``: taste clusters (features' ``cluster`` column, else a k-means fallback);
- ``guidance``: the instructor's per-user guidance; ``plan``: trigger policy and job grouping.

The stage that drives them is ``generec_core/stages/generate.py``.
"""

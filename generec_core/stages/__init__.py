"""The nightly pipeline's stages, one module each (``stage_graph`` lists them; ``pipeline`` runs them).

A stage reads datasets through their owners (``generec_core/datasets``), calls domain code and
writes datasets; it never imports another stage, and nothing but ``pipeline`` imports a stage.
"""

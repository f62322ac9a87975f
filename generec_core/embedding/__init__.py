"""Image encoders that map pixels to L2-normalised embeddings (see encoder.py)."""

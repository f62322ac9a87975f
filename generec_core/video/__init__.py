"""Video I/O: deterministic frame sampling (decode) and clip cutting (clip), on PyAV."""

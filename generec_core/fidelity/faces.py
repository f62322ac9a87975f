"""Privacy: a generated image must not show faces its source frame does not show.

Detector: OpenCV's Viola-Jones Haar cascade for frontal faces, which ships inside the
``opencv-python-headless`` 4.x wheel (``cv2.data.haarcascades``), so it runs offline. It has
no notion of identity, so the rule is about *how many* faces: the candidate may not show
more confident faces than the source shows at all. That is robust to the crops and
re-colourings a generator applies (a face that moved is still one face), and it catches
the harmful case, a face that was not there (a pasted or hallucinated person). A face
*swapped* for another at equal count needs face recognition, for which no weights install
offline here.

Hysteresis, measured on 326 demo frames against colour-shifted copies of themselves: with
one detector setting on both sides (min neighbours 5) the copy "gains" a face in 16 frames (a
real but faint face crossing the threshold, or a textured false positive). So the source is
searched leniently (``GateConfig.face_source_neighbors`` = 2) and the candidate strictly
(``face_candidate_neighbors`` = 8): 0 of 326 then. A new face must be confident in the
candidate and absent even at low confidence from the source. The price is recall: an
astronaut face pasted at 70 px into face-free demo frames is found in 82% of them.
"""

from __future__ import annotations

import threading
from typing import Callable

import cv2
import numpy as np

from generec_core.fidelity.checks import CheckResult

CASCADE = "haarcascade_frontalface_default.xml"
_SCALE_FACTOR = 1.1
_MIN_FACE_PX = 20  # the cascade's own window is 24 px; smaller faces are not identifiable anyway

_LOCAL = threading.local()  # a CascadeClassifier is not safe to share between threads


class FaceDetectorUnavailable(RuntimeError):
    """OpenCV's Haar cascades are missing (opencv-python-headless 5.x dropped them)."""


def _cascade() -> cv2.CascadeClassifier:
    cascade = getattr(_LOCAL, "cascade", None)
    if cascade is None:
        path = getattr(getattr(cv2, "data", None), "haarcascades", "") + CASCADE
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise FaceDetectorUnavailable(
                f"Haar cascade {CASCADE!r} not found at {path!r}: the face check needs "
                "opencv-python-headless 4.x (pip install opencv-python-headless==4.14.0.94)")
        _LOCAL.cascade = cascade
    return cascade


def detector_id() -> str:
    """The detector and its fixed settings: what stored face boxes were found with (``model_outputs``)."""
    return f"opencv-haar:{CASCADE}:cv2={cv2.__version__}:scale={_SCALE_FACTOR}:min_px={_MIN_FACE_PX}"


def detect_faces(pixels: np.ndarray, min_neighbors: int, min_face_frac: float) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) in an (H, W, 3) uint8 RGB image.

    ``min_neighbors`` is the cascade's confidence (overlapping detections needed);
    ``min_face_frac`` the smallest face side as a fraction of the image's shorter side.
    Histogram equalisation first: faces in dim or flat footage are otherwise missed.
    """
    gray = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY))
    side = max(_MIN_FACE_PX, int(min_face_frac * min(gray.shape)))
    boxes = _cascade().detectMultiScale(gray, scaleFactor=_SCALE_FACTOR, minNeighbors=min_neighbors,
                                        minSize=(side, side))
    return [tuple(int(v) for v in b) for b in boxes] if len(boxes) else []


def new_faces_check(candidate: np.ndarray, source: np.ndarray | None, *, candidate_neighbors: int,
                    source_neighbors: int, min_face_frac: float, max_new_faces: int = 0,
                    detect: Callable[[np.ndarray, int, float], list] | None = None) -> CheckResult:
    """Confident faces in the candidate beyond the faces found (leniently) in its source.

    ``detect`` finds the boxes (``detect_faces``, or the gate's reusable outputs of it); the comparison is
    made here, on every call. A candidate without a confident face has no new face whatever its source
    shows, so the source is searched only when the candidate has one: the same result for half the
    searches on the usual face-free asset (each search is ~18 ms on a 320x180 frame on 2 cores)."""
    if source is None:
        return CheckResult("new_faces", False, None, float(max_new_faces), "source frame unavailable")
    detect = detect or detect_faces
    found = len(detect(candidate, candidate_neighbors, min_face_frac))
    known = len(detect(source, source_neighbors, min_face_frac)) if found else 0
    new = max(0, found - known)
    return CheckResult.of("new_faces", new <= max_new_faces, float(new), float(max_new_faces),
                          "face absent from its source")

"""The pretrained face recognizer as a judge: dlib's ResNet face descriptor (trained on ~3M faces of other
people, never on the private ones), enrolled on the private training images (`dpmi.metrics.face_recognizer`).

It is the judge of another family that the attack cannot fool: an image optimised to make a classifier trained
on the private faces confident carries features that transfer to any other classifier trained on them, but
not to a descriptor learnt from other people. Per reconstruction it says whether a face is detected, which
private person is nearest, and whether the claimed person is verified at dlib's own same-person threshold.

It names a person only where its face detector finds a face, as a face recognition system does (detect, then
identify): an image without a face recognises nobody. Measured on the AT&T faces (20 private people, seed 0):
without that rule it would name 20 % of the MI-FACE images optimised against another softmax classifier
(60 probes, chance 5 %), in none of which a face is detected; those images carry the person's linear template
(the nearest-mean-face test names 100 % of them), which a descriptor can still pick up from a faceless image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dpmi.data import FaceDataset
from dpmi.metrics.judge_spec import JudgeSpec


class RecognizerJudge:
    """A fitted `FaceRecognizer` with the judge interface (`scores`, `verdicts`, `test_accuracy`)."""

    def __init__(self, recognizer: Any) -> None:
        self.recognizer = recognizer

    @property
    def test_accuracy(self) -> float:
        return float(self.recognizer.test_accuracy)

    def scores(self, images: Any) -> np.ndarray:
        return np.asarray(self.recognizer.scores(images), dtype=np.float64)

    def verdicts(self, images: Any, labels: np.ndarray) -> dict[str, np.ndarray]:
        """Scores [K, people], detected [K], answered [K] (= detected: a face recognition pipeline names only the
        faces its detector finds), verified [K] (a face is detected and the claimed person's descriptor distance
        is below the recognizer's own threshold). The descriptor network, most of the cost, runs only on the
        images with a detected face (a row without one names nobody, whatever its descriptor)."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        described = self.recognizer.describe(images, detected_only=True)  # one detection pass
        detected = np.asarray(described["detected"], dtype=bool)
        scores = np.full((len(labels), int(self.recognizer.num_classes)), -np.inf)
        verified = np.zeros(len(labels), dtype=bool)
        rows = np.flatnonzero(detected)
        if rows.size:
            distances = np.asarray(described["distances"], dtype=np.float64)[rows]
            scores[rows] = np.asarray(described["scores"], dtype=np.float64)[rows]
            verified[rows] = distances[np.arange(rows.size), labels[rows]] < float(self.recognizer.threshold)
        return {"scores": scores, "detected": detected, "answered": detected, "verified": verified}

    def state_dict(self) -> dict[str, Any]:
        return self.recognizer.state_dict()


def _available() -> tuple[bool, str]:
    try:
        from dpmi.metrics.face_recognizer import recognizer_available
    except ImportError as error:  # dpmi's own module could not load (should not happen in an install)
        return False, f"the pretrained face recognizer could not be loaded: {error}"
    return recognizer_available()


def _fit(train: FaceDataset, test: FaceDataset | None, *, log: Any = None, **_: Any) -> RecognizerJudge:
    from dpmi.metrics.face_recognizer import load_or_fit_face_recognizer

    return RecognizerJudge(load_or_fit_face_recognizer(train, test, log=log))


def _load(state: dict[str, Any], device: Any = "cpu") -> RecognizerJudge:
    from dpmi.metrics.face_recognizer import FaceRecognizer

    return RecognizerJudge(FaceRecognizer.from_state_dict(state))


JUDGE = JudgeSpec(
    label="pretrained face recognizer",
    family="dlib's ResNet face descriptor, trained on other people's faces, enrolled on the private images",
    colour="#0072B2",
    marker="D",
    fit=_fit,
    load=_load,
    test_key="recognizer_test_acc",
    available=_available,
    detects_faces=True,
    verifies=True,
    reference="King, dlib (JMLR 2009); the ResNet descriptor of dlib's face recognition example",
)

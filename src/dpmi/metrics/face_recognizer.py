"""A pretrained face recognizer: dlib's ResNet face descriptor, enrolled on the private training faces.

dlib's `dlib_face_recognition_resnet_model_v1` maps an aligned face to a 128-D descriptor; it was trained by
Davis King on about 3 million faces of 7485 other people (FaceScrub, VGG and web images; none of the AT&T
people), with a metric loss that puts each identity's faces in a ball of radius 0.6: two faces whose
descriptors are closer than 0.6 are the same person by dlib's own rule (99.38 % on LFW). It never sees a
private image in training, so it is a judge of another family than anything trained on the private faces.

Pipeline per image ([C, H, W] in [-1, 1], C = 1 grey or 3 RGB, any size): rescaled to 0..255 per image
(min-max, so a reconstruction's arbitrary offset and contrast do not matter; a constant image becomes mid
grey), grey copied into 3 channels, upsampled with PIL bicubic until the short side is >= `MIN_SIDE` pixels,
then dlib's HOG frontal face detector (with its own 2x pyramid step) looks for a face. The 5-point landmark
model is run inside the largest detected box, or, when none is found, inside a box covering the whole image
(the AT&T images are tightly cropped faces), so every image gets a descriptor and a nearest person;
`detected` says which images had a face. Enrolment keeps every training descriptor per person; a person's
distance is the minimum over their enrolled descriptors (measured better than the distance to their mean
descriptor on the held-out AT&T faces: see `DISTANCE_RULE`).

The models come from PyPI: `dlib-bin` (dlib, Boost Software License) and `face-recognition-models` (Davis
King's model files, public domain / CC0). Both are optional (`pip install 'dpmi[faces]'`); dlib is imported
only when a recognizer runs.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dpmi.data import FaceDataset

SAME_PERSON_THRESHOLD = 0.6  # dlib's documented same-person descriptor distance
MIN_SIDE = 150  # images are upsampled until their short side has at least this many pixels
DETECT_UPSAMPLE = 1  # dlib's detector upsamples 2x this many times more (finds faces down to ~40 px)
DESCRIPTOR_PADDING = 0.25  # dlib's default margin around the aligned face chip
DESCRIPTOR_DIM = 128
BATCH = 32  # images per batched descriptor call
# "min": a person's distance is the smallest distance to any of their enrolled descriptors; "mean": the
# distance to their mean descriptor. Measured held-out acc@1 on the AT&T faces: 1.00 for both (20 private
# people, 7 train / 3 held out, split seeds 0-2); all 40 people, 2 / 3 / 5 / 7 enrolled per person, 10 random
# splits each: min 0.9981 / 0.9982 / 0.9985 / 0.9983, mean 0.9978 / 0.9982 / 0.9985 / 0.9983. "mean" named
# more of the per-person mean faces (0.95 against 0.90), which is no held-out face.
DISTANCE_RULE = "min"
DISTANCE_RULES = ("min", "mean")
FACE_RECOGNIZER_CACHE_KIND = "face_recognizer"
FACE_RECOGNIZER_VERSION = 1  # bump when fitting would give another recognizer for the same inputs

MISSING_MESSAGE = "the pretrained face recognizer needs dlib-bin and face-recognition-models: pip install 'dpmi[faces]'"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"

_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def model_files() -> tuple[Path, Path] | None:
    """(5-point landmark model, ResNet descriptor model) shipped by `face-recognition-models`, or None when
    the package or a file is missing. Found from the package's folder without importing it: its
    `__init__` needs `pkg_resources`, which recent setuptools no longer ship."""
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "models"
        landmarks, descriptor = folder / LANDMARKS_FILE, folder / DESCRIPTOR_FILE
        if landmarks.is_file() and descriptor.is_file():
            return landmarks, descriptor
    return None


def recognizer_available() -> tuple[bool, str]:
    """(True, "") when dlib and the model files are installed, else (False, how to install them)."""
    try:
        import dlib  # noqa: F401
    except ImportError:
        return False, MISSING_MESSAGE
    if model_files() is None:
        return False, MISSING_MESSAGE
    return True, ""


def _models() -> dict[str, Any]:
    """dlib's face detector, 5-point landmark model and ResNet descriptor, loaded once per process."""
    with _MODELS_LOCK:
        if not _MODELS:
            ok, why = recognizer_available()
            if not ok:
                raise ImportError(why)
            import dlib

            files = model_files()
            assert files is not None
            _MODELS["detector"] = dlib.get_frontal_face_detector()
            _MODELS["landmarks"] = dlib.shape_predictor(str(files[0]))
            _MODELS["descriptor"] = dlib.face_recognition_model_v1(str(files[1]))
        return _MODELS


def to_dlib_images(images: Any) -> list[np.ndarray]:
    """[K, C, H, W] images (torch or numpy, any range; C = 1 or 3, other C averaged to grey) -> K contiguous
    uint8 H'xW'x3 arrays, each min-max rescaled to 0..255 and upsampled (bicubic) to a short side >=
    `MIN_SIDE`."""
    from PIL import Image

    x = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    x = x.astype(np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must be [K, C, H, W], got shape {x.shape}")
    if x.shape[1] not in (1, 3):
        x = x.mean(axis=1, keepdims=True)
    out = []
    for image in x:
        image = np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0)
        low, high = float(image.min()), float(image.max())
        levels = (image - low) / (high - low) * 255.0 if high > low else np.full_like(image, 127.5)
        hwc = np.clip(np.rint(levels), 0, 255).astype(np.uint8).transpose(1, 2, 0)
        pil = Image.fromarray(hwc[:, :, 0]) if hwc.shape[2] == 1 else Image.fromarray(hwc, mode="RGB")
        height, width = hwc.shape[:2]
        scale = max(1.0, MIN_SIDE / min(height, width))
        if scale > 1.0:
            pil = pil.resize((round(width * scale), round(height * scale)), Image.Resampling.BICUBIC)
        rgb = np.asarray(pil.convert("RGB"), dtype=np.uint8)
        out.append(np.ascontiguousarray(rgb))
    return out


def compute_descriptors(images: Any, *, detected_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """dlib descriptors of [K, C, H, W] images: (detected bool [K], descriptors float32 [K, 128]).

    detected[k]: dlib's frontal face detector finds a face in the upsampled image k. The landmarks (and so the
    descriptor) come from the largest detected face, else from a box covering the whole image. With
    `detected_only` the descriptor network (most of the cost) runs only on the images with a detected face and
    the other rows are NaN: one detection pass serves both answers."""
    import dlib

    models = _models()
    pictures = to_dlib_images(images)
    detected = np.zeros(len(pictures), dtype=bool)
    rows, shapes = [], []
    for k, picture in enumerate(pictures):
        boxes = list(models["detector"](picture, DETECT_UPSAMPLE))
        if boxes:
            detected[k] = True
            box = max(boxes, key=lambda b: b.width() * b.height())
        elif detected_only:
            continue
        else:
            box = dlib.rectangle(0, 0, picture.shape[1] - 1, picture.shape[0] - 1)
        found = dlib.full_object_detections()
        found.append(models["landmarks"](picture, box))
        rows.append(k)
        shapes.append(found)
    descriptors = np.full((len(pictures), DESCRIPTOR_DIM), np.nan, dtype=np.float32)  # rows not described stay NaN
    chosen = [pictures[k] for k in rows]
    for start in range(0, len(rows), BATCH):
        stop = start + BATCH
        batch = models["descriptor"].compute_face_descriptor(
            chosen[start:stop], shapes[start:stop], 0, DESCRIPTOR_PADDING
        )
        for k, vectors in zip(rows[start:stop], batch):
            descriptors[k] = np.asarray(vectors[0], dtype=np.float32)
    return detected, descriptors


def class_distances(
    descriptors: np.ndarray, enrolled: np.ndarray, labels: np.ndarray, num_classes: int, rule: str = DISTANCE_RULE
) -> np.ndarray:
    """Euclidean distance [K, num_classes] of each descriptor [K, 128] to each person enrolled by
    `enrolled` [N, 128] with `labels` [N]: the minimum over the person's descriptors ("min") or the distance
    to their mean descriptor ("mean"); inf for a person with no enrolled descriptor."""
    if rule not in DISTANCE_RULES:
        raise ValueError(f"rule must be one of {DISTANCE_RULES}, got {rule!r}")
    queries = np.asarray(descriptors, dtype=np.float64).reshape(-1, DESCRIPTOR_DIM)
    enrolled = np.asarray(enrolled, dtype=np.float64).reshape(-1, DESCRIPTOR_DIM)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    out = np.full((len(queries), num_classes), np.inf)
    for person in range(num_classes):
        members = enrolled[labels == person]
        if not len(members):
            continue
        if rule == "mean":
            members = members.mean(axis=0, keepdims=True)
        gaps = np.linalg.norm(queries[:, None, :] - members[None, :, :], axis=2)
        out[:, person] = gaps.min(axis=1)
    return out


@dataclass
class FaceRecognizer:
    """dlib's face descriptor with the private people enrolled.

    Attributes:
        descriptors: float32 [N, 128], one per private training image. labels: int64 [N], their people.
        num_classes: private people (one score column each). rule: "min" or "mean" (`class_distances`).
        threshold: dlib's same-person distance (0.6). test_accuracy: acc@1 on the held-out images given at fit
            (NaN without). test_detected: share of those in which a face was detected (NaN without).
        seconds_per_image: measured time to describe one image at fit (NaN when loaded without it).
    """

    descriptors: np.ndarray
    labels: np.ndarray
    num_classes: int
    rule: str = DISTANCE_RULE
    threshold: float = SAME_PERSON_THRESHOLD
    test_accuracy: float = math.nan
    test_detected: float = math.nan
    seconds_per_image: float = math.nan

    def describe(self, images: Any, *, detected_only: bool = False) -> dict[str, np.ndarray]:
        """images [K, C, H, W] in [-1, 1] -> {"detected": bool [K], "descriptors": float [K, 128],
        "distances": float [K, num_classes] (inf for a person with no enrolled image), "scores": -distances}.
        With `detected_only` the rows without a detected face are not described: NaN descriptors and distances."""
        detected, descriptors = compute_descriptors(images, detected_only=detected_only)
        described = np.flatnonzero(detected) if detected_only else np.arange(len(detected))
        distances = np.full((len(detected), int(self.num_classes)), np.nan)
        if described.size:
            distances[described] = class_distances(
                descriptors[described], self.descriptors, self.labels, self.num_classes, self.rule
            )
        return {"detected": detected, "descriptors": descriptors, "distances": distances, "scores": -distances}

    def scores(self, images: Any) -> np.ndarray:
        """float [K, num_classes]: minus the descriptor distance to each person (higher = more alike)."""
        return self.describe(images)["scores"]

    def state_dict(self) -> dict[str, Any]:
        """Tensors, numbers and strings only (a `dpmi.cache` payload, loadable with weights_only=True)."""
        import torch

        return {
            "descriptors": torch.from_numpy(np.ascontiguousarray(self.descriptors, dtype=np.float32)),
            "labels": torch.from_numpy(np.ascontiguousarray(self.labels, dtype=np.int64)),
            "num_classes": int(self.num_classes),
            "rule": str(self.rule),
            "threshold": float(self.threshold),
            "test_accuracy": float(self.test_accuracy),
            "test_detected": float(self.test_detected),
            "seconds_per_image": float(self.seconds_per_image),
            "version": FACE_RECOGNIZER_VERSION,
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> FaceRecognizer:
        descriptors = np.asarray(state["descriptors"].numpy(), dtype=np.float32).reshape(-1, DESCRIPTOR_DIM)
        labels = np.asarray(state["labels"].numpy(), dtype=np.int64).reshape(-1)
        if len(descriptors) != len(labels):
            raise ValueError(f"{len(descriptors)} descriptors but {len(labels)} labels in the recognizer's state")
        rule = str(state.get("rule", DISTANCE_RULE))
        if rule not in DISTANCE_RULES:
            raise ValueError(f"unknown distance rule {rule!r} in the recognizer's state")
        return cls(
            descriptors,
            labels,
            int(state["num_classes"]),
            rule,
            float(state.get("threshold", SAME_PERSON_THRESHOLD)),
            float(state.get("test_accuracy", math.nan)),
            float(state.get("test_detected", math.nan)),
            float(state.get("seconds_per_image", math.nan)),
        )


def fit_face_recognizer(
    train: FaceDataset, test: FaceDataset | None = None, *, rule: str = DISTANCE_RULE
) -> FaceRecognizer:
    """Enrol every private person by the descriptors of their training images; measure acc@1 (and the face
    detection rate) on `test` (held-out private images) when given."""
    if rule not in DISTANCE_RULES:
        raise ValueError(f"rule must be one of {DISTANCE_RULES}, got {rule!r}")
    if not len(train):
        raise ValueError("the face recognizer needs at least one training image to enrol")
    x_train, _ = train.to_tensors()
    started = time.perf_counter()
    _, descriptors = compute_descriptors(x_train)
    seconds = (time.perf_counter() - started) / len(train)
    recognizer = FaceRecognizer(
        descriptors, train.labels.astype(np.int64), int(train.num_classes), rule, seconds_per_image=seconds
    )
    if test is not None and len(test):
        x_test, y_test = test.to_tensors()
        described = recognizer.describe(x_test)
        predicted = np.argmax(described["scores"], axis=1)
        recognizer.test_accuracy = float(np.mean(predicted == y_test.numpy()))
        recognizer.test_detected = float(np.mean(described["detected"]))
    return recognizer


def load_or_fit_face_recognizer(
    train: FaceDataset, test: FaceDataset | None = None, log: Callable[[str], None] | None = None
) -> FaceRecognizer:
    """The face recognizer from dpmi's content cache (kind "face_recognizer"), or enrolled on `train` and
    cached; keyed by the training and held-out images and labels and `FACE_RECOGNIZER_VERSION`."""
    from dpmi.cache import cached

    parts: dict[str, Any] = {
        "train_images": train.images,
        "train_labels": train.labels,
        "num_classes": int(train.num_classes),
        "version": FACE_RECOGNIZER_VERSION,
        "rule": DISTANCE_RULE,
    }
    if test is not None:
        parts.update(test_images=test.images, test_labels=test.labels)

    def build() -> dict[str, Any]:
        if log is not None:
            log(
                f"enrolling {len(train)} private images of {train.num_classes} identities in dlib's face "
                "recognizer (once; cached for later runs) ..."
            )
        return fit_face_recognizer(train, test).state_dict()

    def valid(payload: dict[str, Any]) -> bool:
        try:
            FaceRecognizer.from_state_dict(payload)
        except Exception:
            return False
        return True

    payload, _ = cached(FACE_RECOGNIZER_CACHE_KIND, parts, build, log=log, valid=valid)
    return FaceRecognizer.from_state_dict(payload)

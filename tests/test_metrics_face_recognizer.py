"""The pretrained face recognizer (dlib's ResNet descriptor enrolled on the private faces): it names held-out
and blurred real private faces, sees nobody in noise, copes with colour and tiny images, is cached by content
(a damaged entry is rebuilt), round-trips through a weights-only torch file, and says how to install it when
dlib is missing."""

from __future__ import annotations

import io
import math
import sys

import numpy as np
import pytest
import torch

from dpmi.data import FaceDataset, split_identities
from dpmi.metrics import face_recognizer as fr
from dpmi.metrics.blur import blur_faces
from dpmi.metrics.significance import above_chance


def require_recognizer() -> None:
    pytest.importorskip("dlib")
    if fr.model_files() is None:
        pytest.skip(fr.MISSING_MESSAGE)


@pytest.fixture(scope="module")
def private_split(faces):
    people = split_identities(faces)
    return people.private.split(train_per_class=7, seed=0)


@pytest.fixture(scope="module")
def recognizer(private_split):
    require_recognizer()
    train, test = private_split
    return fr.fit_face_recognizer(train, test)


def acc1(recognizer: fr.FaceRecognizer, images: torch.Tensor, labels: np.ndarray) -> tuple[float, dict]:
    described = recognizer.describe(images)
    return float(np.mean(described["scores"].argmax(axis=1) == labels)), described


# ---- without dlib: arithmetic, state, availability ----


def test_unavailable_without_dlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # `import dlib` now raises ImportError
    ok, why = fr.recognizer_available()
    assert not ok
    assert why == (
        "the pretrained face recognizer needs dlib-bin and face-recognition-models: pip install 'dpmi[faces]'"
    )
    from dpmi.metrics.recognizer_judge import JUDGE

    assert JUDGE.available() == (False, why)


def test_unavailable_without_the_model_files(monkeypatch):
    monkeypatch.setattr(fr, "model_files", lambda: None)
    assert fr.recognizer_available() == (False, fr.MISSING_MESSAGE)


def test_class_distances_min_mean_and_people_without_images():
    enrolled = np.zeros((3, fr.DESCRIPTOR_DIM))
    enrolled[1, 0] = 2.0
    enrolled[2, 1] = 1.0
    labels = np.array([0, 0, 2])
    query = np.zeros((1, fr.DESCRIPTOR_DIM))
    query[0, 0] = 2.0
    near = fr.class_distances(query, enrolled, labels, 3, "min")
    assert near[0, 0] == pytest.approx(0.0) and math.isinf(near[0, 1]) and near[0, 2] == pytest.approx(math.sqrt(5))
    mean = fr.class_distances(query, enrolled, labels, 3, "mean")
    assert mean[0, 0] == pytest.approx(1.0) and math.isinf(mean[0, 1])
    with pytest.raises(ValueError, match="rule"):
        fr.class_distances(query, enrolled, labels, 3, "median")


def test_dlib_images_are_contiguous_uint8_rgb_upsampled():
    grey = torch.linspace(-1, 1, 2 * 28 * 23).reshape(2, 1, 28, 23)
    out = fr.to_dlib_images(grey)
    assert len(out) == 2
    for picture in out:
        assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
        assert picture.flags["C_CONTIGUOUS"] and min(picture.shape[:2]) >= fr.MIN_SIDE
        assert np.array_equal(picture[..., 0], picture[..., 1]) and np.array_equal(picture[..., 0], picture[..., 2])
    flat = fr.to_dlib_images(torch.zeros(1, 3, 200, 160))[0]
    assert flat.shape == (200, 160, 3) and np.all(flat == 128)  # a constant image: mid grey, not upsampled
    with pytest.raises(ValueError, match="K, C, H, W"):
        fr.to_dlib_images(torch.zeros(4, 4))


def test_state_round_trips_through_a_weights_only_torch_file():
    rng = np.random.default_rng(0)
    recognizer = fr.FaceRecognizer(
        rng.normal(size=(6, fr.DESCRIPTOR_DIM)).astype(np.float32),
        np.array([0, 0, 1, 1, 3, 3]),
        4,
        test_accuracy=0.75,
        seconds_per_image=0.1,
    )
    buffer = io.BytesIO()
    torch.save(recognizer.state_dict(), buffer)
    buffer.seek(0)
    loaded = fr.FaceRecognizer.from_state_dict(torch.load(buffer, weights_only=True))
    assert np.array_equal(loaded.descriptors, recognizer.descriptors)
    assert np.array_equal(loaded.labels, recognizer.labels)
    assert (loaded.num_classes, loaded.rule, loaded.threshold) == (4, fr.DISTANCE_RULE, 0.6)
    assert loaded.test_accuracy == 0.75 and math.isnan(loaded.test_detected)
    query = rng.normal(size=(2, fr.DESCRIPTOR_DIM))
    assert np.array_equal(
        fr.class_distances(query, loaded.descriptors, loaded.labels, 4),
        fr.class_distances(query, recognizer.descriptors, recognizer.labels, 4),
    )


# ---- with dlib, on the real AT&T faces ----


@pytest.mark.slow
def test_names_held_out_real_private_faces(recognizer, private_split):
    train, test = private_split
    x_test, y_test = test.to_tensors()
    accuracy, described = acc1(recognizer, x_test, y_test.numpy())
    assert accuracy >= 0.95
    assert recognizer.test_accuracy == pytest.approx(accuracy)
    assert recognizer.threshold == 0.6 and recognizer.num_classes == train.num_classes == 20
    assert described["descriptors"].shape == (len(test), 128)
    assert described["distances"].shape == (len(test), 20) and np.isfinite(described["distances"]).all()
    assert np.array_equal(described["scores"], -described["distances"])
    assert described["detected"].dtype == bool and described["detected"].mean() >= 0.9
    assert np.array_equal(recognizer.scores(x_test[:4]), described["scores"][:4])
    # dlib's own rule: the claimed (true) person is within 0.6 for nearly every held-out face
    claimed = described["distances"][np.arange(len(test)), y_test.numpy()]
    assert np.mean(claimed < recognizer.threshold) >= 0.9


@pytest.mark.slow
def test_sees_nobody_in_noise(recognizer, private_split):
    _, test = private_split
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(60, 1, *test.image_shape, generator=generator).clamp(-3, 3) / 3
    labels = np.arange(60) % 20
    accuracy, described = acc1(recognizer, noise, labels)
    assert not above_chance(int(round(accuracy * 60)), 60, 1 / 20)
    assert described["detected"].mean() <= 0.1
    assert np.isfinite(described["distances"]).all()  # every image still gets a nearest person


@pytest.mark.slow
def test_names_faces_blurred_by_two_pixels(recognizer, private_split):
    _, test = private_split
    x_blur, y = blur_faces(test, 2.0).to_tensors()
    accuracy, _ = acc1(recognizer, x_blur, y.numpy())
    assert accuracy >= 0.9


@pytest.mark.slow
def test_colour_and_tiny_copies_still_work(recognizer, private_split):
    _, test = private_split
    x_test, y_test = test.to_tensors()
    x, y = x_test[:20], y_test[:20].numpy()
    for copy in (x.repeat(1, 3, 1, 1), torch.nn.functional.interpolate(x, size=(28, 23), mode="area")):
        described = recognizer.describe(copy)
        assert described["distances"].shape == (20, 20) and np.isfinite(described["distances"]).all()
        assert described["descriptors"].shape == (20, 128) and described["detected"].shape == (20,)
    rgb_accuracy, _ = acc1(recognizer, x.repeat(1, 3, 1, 1), y)
    assert rgb_accuracy >= 0.9  # grey copied into three channels is the same image to dlib


@pytest.mark.slow
def test_cache_returns_the_same_enrolment_and_rebuilds_a_damaged_entry(private_split, tmp_path, monkeypatch):
    require_recognizer()
    monkeypatch.setenv("DPMI_CACHE", str(tmp_path / "cache"))
    train, test = private_split
    small_train: FaceDataset = train.subset(np.flatnonzero(train.image_ids % 2 == 0)[:12])
    small_test: FaceDataset = test.subset(np.arange(6))
    lines: list[str] = []
    first = fr.load_or_fit_face_recognizer(small_train, small_test, log=lines.append)
    assert len(lines) == 1 and "enrolling" in lines[0]
    second = fr.load_or_fit_face_recognizer(small_train, small_test, log=lines.append)
    assert len(lines) == 1  # a hit: nothing rebuilt
    assert np.array_equal(first.descriptors, second.descriptors) and np.array_equal(first.labels, second.labels)
    assert first.test_accuracy == second.test_accuracy
    entries = list((tmp_path / "cache" / "artifacts" / fr.FACE_RECOGNIZER_CACHE_KIND).glob("*.pt"))
    assert len(entries) == 1
    data = entries[0].read_bytes()
    entries[0].write_bytes(data[: len(data) // 2])
    rebuilt = fr.load_or_fit_face_recognizer(small_train, small_test, log=lines.append)
    assert any("corrupt" in line for line in lines[1:]) and any("enrolling" in line for line in lines[1:])
    assert np.allclose(rebuilt.descriptors, first.descriptors, atol=1e-5)
    other = fr.load_or_fit_face_recognizer(small_train, None, log=lines.append)  # another key: a miss
    assert math.isnan(other.test_accuracy)
    assert len(list(entries[0].parent.glob("*.pt"))) == 2


@pytest.mark.slow
def test_the_registry_judge_names_held_out_faces(private_split):
    require_recognizer()
    from dpmi.metrics import LabelledImages, evaluate_inversion, load_or_train_judges

    train, test = private_split
    judges = load_or_train_judges(train, test, seed=0)
    x_test, y_test = test.to_tensors()
    summary = evaluate_inversion(LabelledImages(x_test, y_test), train, judges)
    assert summary["recognizer_acc1"] >= 0.95
    assert "recognizer_detected" in summary and summary["recognizer_detected"] >= 0.9


@pytest.mark.slow
def test_the_judge_describes_only_detected_faces_and_matches_describing_them_alone(recognizer, private_split):
    # The judge's one pass (detect, then describe only the rows with a face) against describing every row and
    # then the detected rows on their own.
    from dpmi.metrics.recognizer_judge import RecognizerJudge

    _, test = private_split
    x_test, y_test = test.to_tensors()
    generator = torch.Generator().manual_seed(2)
    noise = torch.randn(4, *x_test.shape[1:], generator=generator).clamp(-3, 3) / 3
    mixed = torch.cat([x_test[:3], noise[:2], x_test[3:6], noise[2:]])
    labels = np.concatenate([y_test[:3], [0, 1], y_test[3:6], [2, 3]]).astype(np.int64)
    every_row = recognizer.describe(mixed)
    rows = np.flatnonzero(every_row["detected"])
    assert rows.tolist() == [0, 1, 2, 5, 6, 7]  # the real faces, not the noise
    alone = recognizer.describe(mixed[rows])
    once = recognizer.describe(mixed, detected_only=True)
    assert np.array_equal(once["detected"], every_row["detected"])
    assert np.array_equal(once["descriptors"][rows], alone["descriptors"])
    assert np.isnan(once["descriptors"][[3, 4, 8, 9]]).all() and np.isnan(once["distances"][[3, 4, 8, 9]]).all()
    verdicts = RecognizerJudge(recognizer).verdicts(mixed, labels)
    assert np.array_equal(verdicts["answered"], every_row["detected"])
    assert np.array_equal(verdicts["scores"][rows], alone["scores"])
    assert np.isneginf(verdicts["scores"][[3, 4, 8, 9]]).all()
    expected_verified = alone["distances"][np.arange(rows.size), labels[rows]] < recognizer.threshold
    assert np.array_equal(verdicts["verified"][rows], expected_verified) and not verdicts["verified"][[3, 4]].any()

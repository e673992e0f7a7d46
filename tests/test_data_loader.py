"""The faces loader on the real AT&T copy, and each way bad data must fail."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from dpmi.data import FaceDataset, load_att_faces, normalize_images, read_pgm


def test_loads_all_400_faces_in_subject_then_image_order(faces, faces_root):
    assert faces.images.shape == (400, 112, 92) and faces.images.dtype == np.uint8
    assert faces.labels.dtype == np.int64
    np.testing.assert_array_equal(faces.labels, np.repeat(np.arange(40), 10))
    np.testing.assert_array_equal(faces.image_ids, np.tile(np.arange(1, 11), 40))
    # Independent read of one file with PIL: subject s12 image 7 is row 11*10+6.
    with Image.open(faces_root / "s12" / "7.pgm") as img:
        np.testing.assert_array_equal(faces.images[116], np.asarray(img))


def test_env_var_is_used_when_no_root_given(faces_root, monkeypatch):
    monkeypatch.setenv("DPMI_DATA", str(faces_root))
    assert len(load_att_faces()) == 400


def test_split_is_stratified_disjoint_and_seeded(faces):
    train, test = faces.split(train_per_class=7, seed=3)
    assert np.bincount(train.labels).tolist() == [7] * 40
    assert np.bincount(test.labels).tolist() == [3] * 40
    train_keys = set(zip(train.labels.tolist(), train.image_ids.tolist()))
    test_keys = set(zip(test.labels.tolist(), test.image_ids.tolist()))
    assert not train_keys & test_keys and len(train_keys | test_keys) == 400
    again, _ = faces.split(train_per_class=7, seed=3)
    np.testing.assert_array_equal(again.image_ids, train.image_ids)
    other, _ = faces.split(train_per_class=7, seed=4)
    assert not np.array_equal(other.image_ids, train.image_ids)


@pytest.mark.parametrize("bad", [0, 10, -1])
def test_split_rejects_impossible_sizes(faces, bad):
    with pytest.raises(ValueError, match="train_per_class"):
        faces.split(train_per_class=bad)


def test_to_tensors_matches_totensor_then_normalize(faces):
    x, y = faces.subset(np.arange(20)).to_tensors()
    assert tuple(x.shape) == (20, 1, 112, 92)
    expected = (faces.images[:20].astype(np.float64) / 255.0 - 0.5) / 0.5  # torchvision's formula
    np.testing.assert_allclose(x[:, 0].numpy(), expected, atol=1e-6)
    assert x.min() >= -1 and x.max() <= 1
    np.testing.assert_array_equal(y.numpy(), faces.labels[:20])
    assert normalize_images(np.array([[0, 255]], dtype=np.uint8)).tolist() == [[-1.0, 1.0]]


def test_class_means_are_per_identity_averages(faces):
    means = faces.class_means()
    np.testing.assert_allclose(means[5], faces.images[50:60].astype(np.float64).mean(axis=0))


@pytest.fixture
def faces_copy(faces_root, tmp_path):
    copy = tmp_path / "att_faces"
    shutil.copytree(faces_root, copy)
    return copy


def test_missing_directory_says_where_it_looked_and_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.delenv("DPMI_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="dpmi data fetch") as info:
        load_att_faces(tmp_path / "nowhere")
    assert "nowhere" in str(info.value)


def test_missing_image_is_named(faces_copy):
    (faces_copy / "s7" / "4.pgm").unlink()
    with pytest.raises(FileNotFoundError, match=r"s7[/\\]4\.pgm"):
        load_att_faces(faces_copy)


def test_truncated_image_is_named(faces_copy):
    path = faces_copy / "s3" / "9.pgm"
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match=r"s3[/\\]9\.pgm.*truncated"):
        load_att_faces(faces_copy)


def test_non_pgm_image_is_named(faces_copy):
    path = faces_copy / "s40" / "10.pgm"
    Image.fromarray(np.zeros((112, 92), dtype=np.uint8)).save(path, format="PNG")
    with pytest.raises(ValueError, match=r"s40[/\\]10\.pgm.*not an 8-bit greyscale PGM"):
        load_att_faces(faces_copy)


def test_wrong_image_size_is_named(faces_copy):
    path = faces_copy / "s1" / "1.pgm"
    Image.fromarray(np.zeros((100, 92), dtype=np.uint8)).save(path, format="PPM")
    with pytest.raises(ValueError, match=r"s1[/\\]1\.pgm is 92x100"):
        read_pgm(path)
    with pytest.raises(ValueError, match="not the AT&T"):
        load_att_faces(faces_copy)


def test_dataset_rejects_inconsistent_arrays():
    with pytest.raises(ValueError, match="labels"):
        FaceDataset(np.zeros((3, 4, 4), np.uint8), np.zeros(2, np.int64), np.zeros(3, np.int64))

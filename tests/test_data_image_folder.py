"""Identity folders built on the fly: RGB and greyscale, uneven counts, resizing, names, the split with
uneven counts, every kind of bad file, and `dpmi data info / verify` on them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dpmi.data import (
    FaceDataset,
    describe_image_folder,
    load_faces,
    load_identity_split,
    load_image_folder,
    load_public_faces,
    make_synthetic_faces,
    select_identities,
    split_identities,
    verify_image_folder,
    write_image_folder,
)

# 15 identities with uneven counts 2..9: the first two names check natural order ("p2" before "p10").
COUNTS = [3, 9, 2, 5, 7, 4, 6, 8, 3, 2, 5, 9, 4, 6, 7]
NAMES = [f"p{k}" for k in range(1, 16)]


def _uneven(channels: int, shape=(20, 16), seed: int = 0) -> FaceDataset:
    full = make_synthetic_faces(len(COUNTS), max(COUNTS), shape, channels=channels, seed=seed)
    keep = np.concatenate([np.flatnonzero(full.labels == k)[:c] for k, c in enumerate(COUNTS)])
    return full.subset(keep)


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory):
    faces = _uneven(3)
    return write_image_folder(faces, tmp_path_factory.mktemp("rgb"), names=NAMES), faces


@pytest.fixture(scope="module")
def grey_folder(tmp_path_factory):
    faces = _uneven(1, seed=1)
    return write_image_folder(faces, tmp_path_factory.mktemp("grey"), image_format="pgm", names=NAMES), faces


def test_rgb_folder_loads_pixels_labels_and_names_as_written(rgb_folder):
    root, written = rgb_folder
    loaded = load_image_folder(root)
    assert loaded.input_shape == (3, 20, 16) and loaded.num_classes == 15
    assert loaded.names == tuple(NAMES)  # natural order: p1, p2, ..., p10, ... not p1, p10, p11
    assert loaded.counts().tolist() == COUNTS
    np.testing.assert_array_equal(loaded.images, written.images)  # PNG is lossless
    np.testing.assert_array_equal(loaded.labels, written.labels)
    np.testing.assert_array_equal(loaded.image_ids, written.image_ids)
    x, _ = loaded.to_tensors()
    assert tuple(x.shape) == (len(written), 3, 20, 16)


def test_greyscale_folder_and_channel_conversion(grey_folder, rgb_folder):
    root, written = grey_folder
    grey = load_image_folder(root)
    assert grey.channels == 1 and grey.images.shape == written.images.shape
    np.testing.assert_array_equal(grey.images, written.images)
    as_rgb = load_image_folder(root, grayscale=False)
    assert as_rgb.channels == 3 and all((as_rgb.images[..., c] == written.images).all() for c in range(3))
    rgb_root, rgb = rgb_folder
    luma = load_image_folder(rgb_root, grayscale=True)
    # ITU-R 601-2 luma, which Pillow's "L" conversion uses: L = R * 299/1000 + G * 587/1000 + B * 114/1000.
    expected = rgb.images.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert luma.channels == 1 and np.abs(luma.images - expected).max() <= 1.0


def test_resize_and_mixed_sizes(tmp_path, rgb_folder):
    root, written = rgb_folder
    resized = load_image_folder(root, image_size=(10, 12))
    assert resized.images.shape == (len(written), 10, 12, 3)
    oracle = np.asarray(Image.fromarray(written.images[4]).resize((12, 10), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(resized.images[4], oracle)
    assert load_image_folder(root, image_size=8).image_shape == (8, 8)
    mixed = write_image_folder(make_synthetic_faces(3, 2, (20, 16), seed=2), tmp_path / "mixed")
    Image.fromarray(np.zeros((24, 16), np.uint8)).save(mixed / "id1" / "2.png")
    with pytest.raises(ValueError, match=r"20x16 \(5 images, .* 24x16 \(1 image, e\.g\. .*id1[/\\]2\.png\).* --image-size HxW"):
        load_image_folder(mixed)
    assert load_image_folder(mixed, image_size=(20, 16)).image_shape == (20, 16)


def test_identity_names_survive_subset_split_and_identity_split(rgb_folder):
    faces = load_image_folder(rgb_folder[0])
    assert faces.subset(np.arange(5)).names == tuple(NAMES)
    chosen = select_identities(faces, [14, 0, 3])
    assert chosen.names == ("p15", "p1", "p4") and chosen.counts().tolist() == [7, 3, 5]
    split = split_identities(faces)
    assert split.private.names == tuple(NAMES[:7]) and split.public.names == tuple(NAMES[7:])
    train, test = faces.split(train_fraction=0.5, seed=0)
    assert train.names == test.names == tuple(NAMES)


def test_uneven_split_keeps_a_test_image_per_identity(rgb_folder):
    faces = load_image_folder(rgb_folder[0])
    counts = np.array(COUNTS)
    train, test = faces.split(train_per_class=5, seed=0)
    assert train.counts().tolist() == np.minimum(5, counts - 1).tolist()
    assert test.counts().tolist() == (counts - np.minimum(5, counts - 1)).tolist()
    train, test = faces.split(train_fraction=0.7, seed=1)
    assert train.counts().tolist() == np.clip(np.floor(0.7 * counts + 0.5), 1, counts - 1).astype(int).tolist()
    assert (test.counts() >= 1).all()
    keys = lambda d: set(zip(d.labels.tolist(), d.image_ids.tolist()))
    assert not keys(train) & keys(test) and len(keys(train) | keys(test)) == len(faces)
    with pytest.raises(ValueError, match="train_per_class must be in 1..8"):
        faces.split(train_per_class=9)
    with pytest.raises(ValueError, match="train_fraction"):
        faces.split(train_fraction=1.0)


def test_an_identity_with_one_image_is_named_by_the_split(tmp_path):
    root = write_image_folder(make_synthetic_faces(3, 3, (12, 12), seed=0), tmp_path / "f", names=["ann", "bo", "cy"])
    for extra in ("2.png", "3.png"):
        (root / "bo" / extra).unlink()
    faces = load_image_folder(root)
    with pytest.raises(ValueError, match=r"1 identity has fewer than 2 images \('bo' \(1\)\)"):
        faces.split(train_per_class=2)


def test_att_split_is_the_7_3_split(faces):
    train, test = faces.split(7, seed=0)
    assert train.counts().tolist() == [7] * 40 and test.counts().tolist() == [3] * 40
    assert faces.names == tuple(f"s{k}" for k in range(1, 41))


@pytest.fixture
def small_folder(tmp_path):
    return write_image_folder(make_synthetic_faces(3, 3, (12, 12), seed=0), tmp_path / "faces")


def test_hidden_and_root_level_files_are_ignored(small_folder):
    (small_folder / "README.txt").write_text("about these faces")
    (small_folder / "id0" / ".DS_Store").write_bytes(b"\x00\x01")
    (small_folder / ".cache").mkdir()
    assert len(load_image_folder(small_folder)) == 9


@pytest.mark.parametrize("case,pattern", [
    ("text", r"id1[/\\]notes\.txt is not an image Pillow can read.*move other files out"),
    ("empty", r"id1[/\\]4\.png is empty"),
    ("truncated", r"id1[/\\]2\.png cannot be read as an image.*truncated"),
    ("nested", r"id1[/\\]more is a folder inside identity folder"),
    ("no_images", r"identity folder .*id3 holds no images"),
    ("one_identity", r"holds 1 identity folder; a face dataset needs at least 2"),
])
def test_bad_folders_fail_naming_the_file(small_folder, case, pattern):
    if case == "text":
        (small_folder / "id1" / "notes.txt").write_text("not a face")
    elif case == "empty":
        (small_folder / "id1" / "4.png").write_bytes(b"")
    elif case == "truncated":
        path = small_folder / "id1" / "2.png"
        path.write_bytes(path.read_bytes()[:60])
    elif case == "nested":
        (small_folder / "id1" / "more").mkdir()
    elif case == "no_images":
        (small_folder / "id3").mkdir()
    else:
        import shutil

        shutil.rmtree(small_folder / "id1")
        shutil.rmtree(small_folder / "id2")
    with pytest.raises(ValueError, match=pattern):
        load_image_folder(small_folder)


def test_load_faces_dispatches_and_public_folder_must_not_hold_private_images(faces_root, rgb_folder, tmp_path):
    att = load_faces(faces_root)
    assert len(att) == 400 and att.names[0] == "s1"
    with pytest.raises(ValueError, match="AT&T faces are greyscale"):
        load_faces(faces_root, grayscale=False)
    private = load_faces(rgb_folder[0], format="folder")
    other = write_image_folder(make_synthetic_faces(4, 3, (30, 30), channels=1, seed=9), tmp_path / "public")
    public = load_public_faces(other, like=private)
    assert public.input_shape == private.input_shape and public.num_classes == 4
    leaked = write_image_folder(private.subset(np.flatnonzero(private.labels == 3)), tmp_path / "leak",
                                names=["x"] * private.num_classes)
    write_image_folder(make_synthetic_faces(2, 2, (20, 16), channels=3, seed=5), tmp_path / "leak", names=["y", "z"])
    with pytest.raises(ValueError, match="also among the private images"):
        load_public_faces(leaked, like=private)
    with pytest.raises(ValueError, match="data format must be one of"):
        load_faces(rgb_folder[0], format="imagenet")


def test_describe_and_verify(rgb_folder):
    summary = describe_image_folder(rgb_folder[0])
    assert summary.names == tuple(NAMES) and list(summary.counts) == COUNTS
    assert summary.sizes == {(20, 16): sum(COUNTS)} and summary.grey_images == 0
    assert verify_image_folder(rgb_folder[0]).fingerprint == summary.fingerprint
    text = "\n".join(summary.lines())
    assert "identities: 15" in text and "16x20" in text and "colour" in text


def test_cli_info_and_verify_on_a_folder(rgb_folder, tmp_path, capsys):
    from dpmi.cli import main

    root = rgb_folder[0]
    assert main(["data", "info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "identities: 15 (p1, p2, p3" in out and "images: 80; per identity min 2, median 5, max 9" in out
    assert main(["data", "verify", str(root)]) == 0
    assert "ok: every image" in capsys.readouterr().out
    bad = write_image_folder(make_synthetic_faces(2, 2, (12, 12), seed=0), tmp_path / "bad")
    (bad / "id0" / "x.jpg").write_text("no")
    assert main(["data", "verify", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dpmi: error:") and "x.jpg" in err[0]


def test_identity_split_from_one_folder_or_a_separate_public_one(rgb_folder, tmp_path):
    one = load_identity_split(rgb_folder[0])
    assert one.private.names == tuple(NAMES[:7]) and one.public.names == tuple(NAMES[7:])
    public_root = write_image_folder(make_synthetic_faces(5, 3, (24, 24), channels=1, seed=11), tmp_path / "pub")
    two = load_identity_split(rgb_folder[0], public_root)
    assert two.private.num_classes == 15 and two.private_ids == tuple(range(15))
    assert two.public.num_classes == 5 and two.public.input_shape == two.private.input_shape == (3, 20, 16)

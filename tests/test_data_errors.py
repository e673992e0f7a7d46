"""Data errors name the cause and the fix: a mistyped path, too few people to split, mixed image sizes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dpmi.data import (
    load_faces,
    load_identity_split,
    load_image_folder,
    make_synthetic_faces,
    split_identities,
    write_image_folder,
)


def test_a_mistyped_path_is_no_such_directory_not_the_download_instructions(tmp_path, monkeypatch):
    monkeypatch.delenv("DPMI_DATA", raising=False)
    wrong = tmp_path / "my_facse"
    for load in (load_faces, load_identity_split):
        with pytest.raises(FileNotFoundError) as info:
            load(wrong)
        assert str(info.value) == f"no such directory: {wrong}"
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_faces(wrong, format="folder")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_image_folder(wrong)


def test_a_wrong_dpmi_data_says_where_the_path_came_from(tmp_path, monkeypatch):
    monkeypatch.setenv("DPMI_DATA", str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError) as info:
        load_faces()
    assert str(info.value) == f"no such directory: {tmp_path / 'gone'} (from $DPMI_DATA)"


def test_the_default_location_still_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.delenv("DPMI_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="dpmi data fetch"):
        load_faces()


def test_the_att_loader_names_the_missing_directory_and_the_fetch(tmp_path, monkeypatch):
    from dpmi.data import load_att_faces

    monkeypatch.delenv("DPMI_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as info:
        load_att_faces(tmp_path / "nowhere")
    assert str(info.value).startswith(f"no such directory: {tmp_path / 'nowhere'}")
    assert "dpmi data fetch --dest" in str(info.value)


@pytest.mark.parametrize("people", [2, 3])
def test_too_few_people_to_split_names_the_cause_and_the_fix(tmp_path, people):
    root = write_image_folder(make_synthetic_faces(num_identities=people, per_identity=4, seed=1), tmp_path / "f")
    with pytest.raises(ValueError) as info:
        load_identity_split(root)
    message = str(info.value)
    assert f"hold {people} people" in message
    assert "needs at least 4 people to split into private and public" in message and "--public DIR" in message


def test_four_people_split_two_and_two():
    split = split_identities(make_synthetic_faces(num_identities=4, per_identity=3, seed=1))
    assert (split.private.num_classes, split.public.num_classes) == (2, 2)


def test_a_second_folder_keeps_two_people_all_private(tmp_path):
    private = write_image_folder(make_synthetic_faces(num_identities=2, per_identity=4, seed=1), tmp_path / "p")
    public = write_image_folder(make_synthetic_faces(num_identities=3, per_identity=4, seed=7), tmp_path / "q")
    split = load_identity_split(private, public)
    assert (split.private.num_classes, split.public.num_classes) == (2, 3)


def test_one_private_person_is_refused():
    faces = make_synthetic_faces(num_identities=5, per_identity=3, seed=1)
    with pytest.raises(ValueError, match="needs at least 2 private people"):
        split_identities(faces, private=[0])


def test_mixed_sizes_name_every_size_and_the_image_size_fix(tmp_path):
    root = write_image_folder(make_synthetic_faces(num_identities=4, per_identity=3, seed=1), tmp_path / "f")
    odd = root / "id1" / "9.png"
    Image.fromarray(np.full((40, 30), 128, dtype=np.uint8)).save(odd)  # 40 high, 30 wide
    with pytest.raises(ValueError) as info:
        load_image_folder(root)
    message = str(info.value)
    assert "differ in size (height x width): 28x24 (12 images, e.g." in message
    assert f"40x30 (1 image, e.g. {odd})" in message
    assert "--image-size HxW (e.g. --image-size 28x24" in message
    # The fix works, through every loader that takes an image size.
    assert load_image_folder(root, image_size=(28, 24)).image_shape == (28, 24)
    assert load_faces(root, image_size=(28, 24)).image_shape == (28, 24)
    assert load_identity_split(root, image_size=(28, 24)).private.image_shape == (28, 24)

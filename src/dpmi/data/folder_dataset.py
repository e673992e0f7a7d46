"""A torch map-style Dataset over an identity folder that reads each image when asked, not up front.

Only the index (paths, labels) is held in memory, so a folder of any size trains with memory that does not
grow with the number of images (`make_private` / `train_on_dataset` with a DataLoader). Item i is exactly
row i of `load_image_folder(root, image_size, grayscale).to_tensors()`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from dpmi.data.face_dataset import normalize_images
from dpmi.data.image_folder import ImageFolderIndex, index_image_folder, read_image


class ImageFolderDataset(Dataset):
    """root/<identity>/<image> as (image float32 [C, H, W] in [-1, 1], label int64 tensor []) pairs.

    Args:
        root: the folder, or an `ImageFolderIndex` of it (from `index_image_folder`).
        image_size, grayscale: as in `load_image_folder`.
        indices: keep only these images (e.g. the training split's), in this order; default all.
        cache: keep each item (the float32 image tensor and its label) after its first read, in each loader
            worker that reads it, so later epochs skip decoding. Memory then grows by 4*C*H*W bytes per image
            read: for folders that fit in memory (the AT&T faces: 16 MB); by default every read decodes.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | ImageFolderIndex,
        image_size: int | Sequence[int] | None = None,
        grayscale: bool | None = None,
        indices: Sequence[int] | np.ndarray | None = None,
        cache: bool = False,
    ) -> None:
        index = root if isinstance(root, ImageFolderIndex) else index_image_folder(root)
        self.image_shape, self.channels = index.output_format(image_size, grayscale)
        self.resize = image_size is not None
        rows = np.arange(len(index)) if indices is None else np.asarray(indices, dtype=np.int64)
        # Plain strings and one int64 array: cheap to hand to DataLoader workers.
        self.paths = [str(index.paths[int(r)]) for r in rows]
        self.labels = index.labels[rows].copy()
        self.names = index.names
        self.num_classes = index.num_classes
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {} if cache else None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one item's image."""
        return (self.channels, *self.image_shape)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        pixels = normalize_images(read_image(Path(self.paths[i]), self.image_shape, self.channels, self.resize))
        image = torch.from_numpy(pixels)
        image = image.unsqueeze(0) if image.dim() == 2 else image.permute(2, 0, 1).contiguous()
        item = image, torch.tensor(int(self.labels[i]), dtype=torch.int64)
        if self.cache is not None:
            self.cache[i] = item
        return item

"""AIJack-compatible `dpmi.utils` (as `aijack.utils`): NumpyDataset."""

from dpmi.compat.numpy_dataset import NumpyDataset

__all__ = ["NumpyDataset"]

"""Datasets for the examples: MNIST and Fashion-MNIST in IDX format.

This package depends only on numpy and the standard library (``tqdm`` is
imported lazily for the download progress bar), so it can be used, and tested,
without Jittor.
"""

from __future__ import annotations

from .idx import IDX_DTYPES, read_idx
from .mnist import (
    DATA_ENV_VAR,
    FASHION_MNIST_MIRRORS,
    FASHION_MNIST_SYSTEM_DIR,
    MNIST_FILES,
    MNIST_MIRRORS,
    binarize,
    binarize_fixed,
    find_dataset,
    iterate_minibatches,
    load_fashion_mnist,
    load_mnist,
)

__all__ = [
    "read_idx",
    "IDX_DTYPES",
    "load_mnist",
    "load_fashion_mnist",
    "find_dataset",
    "binarize",
    "binarize_fixed",
    "iterate_minibatches",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "FASHION_MNIST_MIRRORS",
    "FASHION_MNIST_SYSTEM_DIR",
    "DATA_ENV_VAR",
]

"""Utilities for training loops: checkpoints that resume a run exactly
(:mod:`zhusuan.utils.checkpoint`) and the seeds that make that possible."""

from __future__ import annotations

from .checkpoint import (
    Checkpoint,
    CheckpointError,
    atomic_write,
    derive_seed,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "Checkpoint",
    "CheckpointError",
    "derive_seed",
    "atomic_write",
]

"""CIFAR-10 in its *binary* version (``cifar-10-binary.tar.gz``), read without unpacking to disk.

Each batch file ``cifar-10-batches-bin/data_batch_1.bin`` .. ``data_batch_5.bin`` (training, 10,000
images each) and ``test_batch.bin`` is a run of 3,073-byte records: one label byte (0-9), then 3,072
pixel bytes -- 1,024 red, 1,024 green, 1,024 blue, each plane row-major 32×32. So a record is already
an image in CHW order, and the number of records is the file size divided by 3,073.

The Python version of CIFAR-10 stores serialized Python objects, and loading those runs whatever
code they hold, so this module never reads it. Members are read straight from the archive by their
exact names, so nothing is extracted to disk (no archive path can escape its folder).
"""
from __future__ import annotations

import io
import os
import tarfile
import zlib
from pathlib import Path
from typing import Dict, Mapping, Tuple, Union

import numpy as np

from . import DataError, MissingDataError
from ..fileio import write_bytes

__all__ = ["CIFAR10_ARCHIVE", "CIFAR10_FOLDER", "CIFAR10_CLASSES", "cifar10_members", "parse_cifar10_batch",
           "read_cifar10_archive", "write_cifar10_archive"]

PathLike = Union[str, "os.PathLike[str]"]

CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-bin"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CHANNELS, _SIDE = 3, 32
_RECORD = 1 + _CHANNELS * _SIDE * _SIDE  # 3,073 bytes: the label, then the pixels


def cifar10_members(split: str) -> Tuple[str, ...]:
    """The archive members holding ``split`` ('train': the five data batches, 'test': the test batch)."""
    if split == "train":
        return tuple(f"{CIFAR10_FOLDER}/data_batch_{i}.bin" for i in range(1, 6))
    if split == "test":
        return (f"{CIFAR10_FOLDER}/test_batch.bin",)
    raise ValueError(f"cifar10: split must be 'train' or 'test', got {split!r}")


def parse_cifar10_batch(blob: bytes, source: str = "batch") -> Tuple[np.ndarray, np.ndarray]:
    """One binary batch file's bytes -> (uint8 images (N, 3, 32, 32), int64 labels (N,)).

    The record count comes from the size; a size that is not a whole, non-zero number of 3,073-byte
    records, or a label outside 0-9, raises ``DataError`` naming ``source``.
    """
    count, extra = divmod(len(blob), _RECORD)
    if count == 0 or extra:
        raise DataError(f"cifar10: {source}: {len(blob):,} bytes is not a whole number of {_RECORD:,}-byte "
                        f"records (1 label byte + {_RECORD - 1:,} pixel bytes); the file is truncated or "
                        "not a CIFAR-10 binary batch")
    records = np.frombuffer(blob, dtype=np.uint8).reshape(count, _RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CIFAR10_CLASSES):
        bad = int(np.argmax(labels >= len(CIFAR10_CLASSES)))
        raise DataError(f"cifar10: {source}: record {bad} has label {labels[bad]}; CIFAR-10 labels are 0-9 "
                        "(is this the CIFAR-100 binary version?)")
    return records[:, 1:].reshape(count, _CHANNELS, _SIDE, _SIDE), labels


def read_cifar10_archive(path: PathLike, split: str = "train") -> Tuple[np.ndarray, np.ndarray]:
    """Read ``split`` from a ``cifar-10-binary.tar.gz`` at ``path``: float32 images (N, 3, 32, 32) in
    [0, 1] (pixel / 255) and int64 labels (N,), the batches in order (data_batch_1 first).

    A damaged archive or a missing or malformed batch raises ``DataError`` naming the archive and member.
    """
    path = Path(path)
    wanted = cifar10_members(split)
    blobs: Dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:  # one pass over the compressed stream
                if member.name in wanted and member.isfile():
                    handle = archive.extractfile(member)
                    if handle is not None:
                        blobs[member.name] = handle.read()
    except FileNotFoundError:
        raise MissingDataError(f"cifar10: {path}: no such file") from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"cifar10: {path}: damaged archive ({err})") from None
    missing = [name for name in wanted if name not in blobs]
    if missing:
        raise DataError(f"cifar10: {path} lacks {', '.join(missing)}; is it the binary version "
                        f"({CIFAR10_ARCHIVE})?")
    parts = [parse_cifar10_batch(blobs[name], f"{path.name}:{name}") for name in wanted]
    pixels = np.concatenate([images for images, _ in parts]) if len(parts) > 1 else parts[0][0]
    images = pixels.astype(np.float32)
    images /= np.float32(255.0)
    return images, np.concatenate([labels for _, labels in parts])


def write_cifar10_archive(path: PathLike, batches: Mapping[str, Tuple[np.ndarray, np.ndarray]]) -> None:
    """Write a ``cifar-10-binary.tar.gz`` (atomically) holding ``batches``: batch file name (e.g.
    ``"data_batch_1.bin"``, ``"test_batch.bin"``) -> (uint8 images (N, 3, 32, 32), labels (N,) in 0-9).
    The files land under ``cifar-10-batches-bin/`` as in the real archive. For tests and synthetic data."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, (images, labels) in batches.items():
            images, labels = np.asarray(images), np.asarray(labels)
            if images.dtype != np.uint8 or images.shape[1:] != (_CHANNELS, _SIDE, _SIDE):
                raise DataError(f"write_cifar10_archive: {name}: images must be uint8 (N, 3, 32, 32), "
                                f"got {images.dtype} {images.shape}")
            if labels.shape != (len(images),) or labels.min() < 0 or labels.max() > 9:
                raise DataError(f"write_cifar10_archive: {name}: labels must be (N,) = ({len(images)},) "
                                f"in 0-9, got shape {labels.shape}")
            records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1)
            payload = records.tobytes()
            info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/{name}")
            info.size, info.mode = len(payload), 0o644
            archive.addfile(info, io.BytesIO(payload))
    write_bytes(path, buffer.getvalue())


"""Atomic file writing: every file the library writes (checkpoints, IDX files, pictures) appears
whole or not at all, so a crash or a kill mid-save never leaves a corrupt file behind."""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator, Mapping, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it is flushed, synced and renamed onto
    ``path`` (atomic on POSIX and Windows); on any error it is removed and ``path`` is untouched."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o644)  # mkstemp makes 0600 files; these are ordinary files
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def write_bytes(path: PathLike, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically (see ``atomic_write``)."""
    with atomic_write(path) as f:
        f.write(payload)


def save_npz(path: PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write named arrays as an uncompressed ``.npz`` at exactly ``path``, atomically, without pickle."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"save_npz: array {key!r} holds Python objects; checkpoints hold numeric or "
                            "string arrays only (they are read without pickle)")
    with atomic_write(path) as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})

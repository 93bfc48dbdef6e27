"""Data for training: the bundled 8x8 digits, the IDX (MNIST-format) reader, splitting and batching.

Three ideas, one section each:

1. ``load_digits()`` -- the UCI handwritten digits (1,797 images of 8x8 pixels) shipped inside the
   package (see ``DIGITS.md`` for the attribution), so a CNN can be trained with no download; and
   ``train_test_split`` to hold some of them out.
2. ``read_idx`` / ``write_idx`` / ``load_mnist`` -- the IDX format of MNIST, Fashion-MNIST and EMNIST,
   read from a folder the user points to (``load_mnist`` itself never downloads anything).
3. ``DataLoader`` -- cuts arrays into (optionally shuffled) mini-batches of numpy arrays; the training
   loop wraps them as Tensors. Shuffling is reproducible per (seed, epoch), so a run resumed at epoch k
   sees the same batches as one that never stopped.

Real datasets come through ``load_dataset(name, split, root, download, mirrors, checksums)``
(``datasets.py``): MNIST, Fashion-MNIST and CIFAR-10 (its binary version, ``cifar.py``; never the
Python-object one), downloaded once with verified checksums (``download.py``) and cached.
"""
from __future__ import annotations

import functools
import gzip
import importlib.resources
import os
import zlib
from pathlib import Path
from typing import Iterator, Optional, Tuple, Union

import numpy as np

from ..errors import DTypeError, ShapeError, TinygradError
from ..fileio import write_bytes

__all__ = ["DataError", "MissingDataError", "DownloadError", "ChecksumError", "load_digits", "train_test_split",
           "read_idx", "write_idx", "load_mnist", "DataLoader", "load_dataset", "read_cifar10_archive",
           "write_cifar10_archive", "DATASET_NAMES"]

PathLike = Union[str, "os.PathLike[str]"]


class DataError(TinygradError, ValueError):
    """A data file that cannot be used: truncated, malformed, or not what its name promises."""


class MissingDataError(DataError, FileNotFoundError):
    """A data folder or file that is not there (also a ``FileNotFoundError``)."""


# ----------------------------------------------------------------------------------------------------
# 1. The bundled digits
# ----------------------------------------------------------------------------------------------------

_DIGITS_FILE = "digits.csv.gz"
_DIGITS_COUNT, _DIGITS_SIDE, _DIGITS_MAX = 1797, 8, 16


@functools.lru_cache(maxsize=1)
def _read_bundled_digits() -> Tuple[np.ndarray, np.ndarray]:
    """The digits as stored: uint8 pixels (N, 8, 8) in 0..16 and int64 labels (N,). Read once per process."""
    resource = importlib.resources.files(__name__).joinpath(_DIGITS_FILE)
    # importlib.resources finds the file wherever the package is installed (site-packages, a zip, ...).
    with resource.open("rb") as raw, gzip.GzipFile(fileobj=raw) as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape != (_DIGITS_COUNT, _DIGITS_SIDE * _DIGITS_SIDE + 1):
        raise DataError(f"load_digits: bundled {_DIGITS_FILE} has shape {table.shape}, expected "
                        f"({_DIGITS_COUNT}, {_DIGITS_SIDE * _DIGITS_SIDE + 1}); the installation is damaged")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > _DIGITS_MAX or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"load_digits: bundled {_DIGITS_FILE} holds values outside pixels 0..16 / labels 0..9; "
                        "the installation is damaged")
    images = pixels.astype(np.uint8).reshape(-1, _DIGITS_SIDE, _DIGITS_SIDE)
    images.flags.writeable = False  # the cache must not be changed through a returned view
    labels = labels.astype(np.int64)
    labels.flags.writeable = False
    return images, labels


def load_digits(normalize: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """The UCI handwritten digits bundled with the package: 1,797 images of 8x8 pixels, labels 0-9.

    Returns ``(images, labels)``: ``images`` float32 of shape (1797, 1, 8, 8) -- one channel, NCHW, ready
    for ``nn.Conv2d`` -- scaled to [0, 1] (pixel / 16) when ``normalize``, else the raw counts 0..16;
    ``labels`` int64 of shape (1797,). The file is parsed once per process; every call returns fresh
    arrays, so changing them does not change the next call's result.
    """
    images, labels = _read_bundled_digits()
    images = images.astype(np.float32)[:, None, :, :]
    if normalize:
        images /= np.float32(_DIGITS_MAX)
    return images, labels.copy()


def train_test_split(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, seed: int = 0,
                     stratify: bool = True) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split samples into a training and a test part: ``x_train, x_test, y_train, y_test``.

    ``round(test_fraction * N)`` samples go to the test part. With ``stratify`` (the default) every class
    of ``y`` keeps (as nearly as whole samples allow) the same share in both parts, so a small test set
    still has every digit. The same ``seed`` always gives the same split; both parts come out shuffled.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ShapeError(f"train_test_split: x and y need a sample axis, got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ShapeError(f"train_test_split: x has {len(x)} samples but y has {len(y)}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"train_test_split: test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    n = len(x)
    n_test = int(round(test_fraction * n))
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_fraction={test_fraction} of {n} samples leaves "
                         f"{n_test} test and {n - n_test} training samples; both parts need at least one")
    rng = np.random.default_rng(seed)
    if stratify:
        is_test = np.zeros(n, dtype=bool)
        classes = np.unique(y, axis=0, return_inverse=True)[1].reshape(-1)
        per_class = _largest_remainder(np.bincount(classes), n_test, n)
        for c, take in enumerate(per_class):
            members = np.flatnonzero(classes == c)
            is_test[rng.permutation(members)[:take]] = True
        test_idx = rng.permutation(np.flatnonzero(is_test))
        train_idx = rng.permutation(np.flatnonzero(~is_test))
    else:
        order = rng.permutation(n)
        test_idx, train_idx = order[:n_test], order[n_test:]
    return x[train_idx], x[test_idx], y[train_idx], y[test_idx]


def _largest_remainder(counts: np.ndarray, n_test: int, n: int) -> np.ndarray:
    """Test samples per class: whole numbers near each class's share ``count * n_test / n`` that add up
    to ``n_test`` -- floor every share, then give the samples still missing to the classes with the
    largest fractional parts (ties to the lower class index). Integer arithmetic, so no rounding drift."""
    whole, remainder = np.divmod(counts * n_test, n)
    missing = n_test - int(whole.sum())
    whole[np.argsort(-remainder, kind="stable")[:missing]] += 1
    return whole


# ----------------------------------------------------------------------------------------------------
# 2. IDX files (MNIST, Fashion-MNIST, EMNIST)
# ----------------------------------------------------------------------------------------------------
# An IDX file is: 2 zero bytes, 1 byte type code, 1 byte number of dimensions, then each dimension as a
# big-endian uint32, then the values row-major, big-endian. The distributed files are often gzipped.

_IDX_TYPES = {  # type code -> big-endian numpy dtype
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dtype.newbyteorder("="): code for code, dtype in _IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_file_bytes(path: Path) -> bytes:
    """The file's contents, un-gzipped when it starts with gzip's magic bytes (whatever its name says)."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise MissingDataError(f"read_idx: {path}: no such file") from None
    if blob[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as err:  # truncated or corrupt gzip stream
            raise DataError(f"read_idx: {path}: damaged gzip data ({err})") from None
    return blob


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), raw or gzipped, into a native-byte-order numpy array.

    Gzip is detected from the file's first bytes, not its name. Everything is checked: the magic number
    (two zero bytes, a known type code, a dimension count), the header length, and that the data holds
    exactly the product of the dimensions -- any mismatch raises ``DataError`` naming the file and what
    is wrong (e.g. "expected 784 bytes of data, got 700"). Type codes: 0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64.
    """
    path = Path(path)
    blob = _read_file_bytes(path)
    if len(blob) < 4:
        raise DataError(f"read_idx: {path}: {len(blob)} bytes is too short for the 4-byte IDX magic number")
    zero0, zero1, type_code, ndims = blob[0], blob[1], blob[2], blob[3]
    if zero0 != 0 or zero1 != 0:
        raise DataError(f"read_idx: {path}: bad magic number 0x{blob[:4].hex()} (an IDX file starts with "
                        "two zero bytes); this is not an IDX file")
    if type_code not in _IDX_TYPES:
        known = ", ".join(f"0x{code:02X}" for code in _IDX_TYPES)
        raise DataError(f"read_idx: {path}: unknown IDX type code 0x{type_code:02X} (known: {known})")
    if ndims == 0:
        raise DataError(f"read_idx: {path}: the header says 0 dimensions; an IDX file has at least one")
    header_len = 4 + 4 * ndims
    if len(blob) < header_len:
        raise DataError(f"read_idx: {path}: truncated header: {ndims} dimensions need {header_len} header "
                        f"bytes, the file has {len(blob)}")
    shape = tuple(int(d) for d in np.frombuffer(blob, dtype=">u4", count=ndims, offset=4))
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(blob) - header_len
    if got != expected:
        problem = "truncated" if got < expected else "trailing bytes after the data"
        raise DataError(f"read_idx: {path}: {problem}: shape {shape} of {dtype.newbyteorder('=').name} "
                        f"expects {expected} bytes of data, got {got}")
    array = np.frombuffer(blob, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native order, and a writeable copy of the buffer


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzipped when ``path`` ends in ``.gz``; atomically (a reader never
    sees half a file). Supported dtypes: uint8, int8, int16, int32, float32, float64."""
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _IDX_CODES:
        supported = ", ".join(d.name for d in _IDX_CODES)
        raise DTypeError(f"write_idx: {path}: dtype {array.dtype} has no IDX type code (supported: "
                         f"{supported}); cast the array first")
    if not 1 <= array.ndim <= 255:
        raise ShapeError(f"write_idx: {path}: IDX stores 1 to 255 dimensions, got shape {array.shape}")
    if any(d >= 2 ** 32 for d in array.shape):
        raise ShapeError(f"write_idx: {path}: IDX dimensions must fit in 32 bits, got shape {array.shape}")
    header = bytes([0, 0, _IDX_CODES[native], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    blob = header + np.ascontiguousarray(array, dtype=_IDX_TYPES[_IDX_CODES[native]]).tobytes()
    if path.name.endswith(".gz"):
        blob = gzip.compress(blob, mtime=0)  # mtime=0: the same array always gives the same bytes
    write_bytes(path, blob)


_MNIST_PREFIX = {"train": "train", "test": "t10k"}


def _mnist_candidates(prefix: str, part: str) -> list:
    """File names under which the distributions ship one part ("images"/"labels" with its idx rank)."""
    rank = "idx3" if part == "images" else "idx1"
    names = []
    for sep in ("-", "."):  # the official files use "-"; some mirrors (e.g. Kaggle) use "."
        base = f"{prefix}-{part}{sep}{rank}-ubyte"
        names += [base, base + ".gz"]
    return names


def load_mnist(data_dir: PathLike, kind: str = "train") -> Tuple[np.ndarray, np.ndarray]:
    """Load MNIST (or Fashion-MNIST / EMNIST, same format) from a local folder as it is (no download, no
    checksum; ``load_dataset`` downloads and verifies).

    ``kind`` is "train" (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``) or "test"
    (``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``); each may also be gzipped (``.gz``).
    Returns ``(images, labels)``: images float32 (N, 1, H, W) in [0, 1] (pixel / 255; 28x28 for MNIST)
    and labels int64 (N,). A missing folder or file raises ``MissingDataError`` listing the file names
    looked for and the folder; a malformed file or image/label counts that differ raise ``DataError``.
    """
    if kind not in _MNIST_PREFIX:
        raise ValueError(f"load_mnist: kind must be 'train' or 'test', got {kind!r}")
    folder = Path(data_dir).expanduser()
    prefix = _MNIST_PREFIX[kind]
    if not folder.is_dir():
        expected = ", ".join(_mnist_candidates(prefix, "images")[:2] + _mnist_candidates(prefix, "labels")[:2])
        raise MissingDataError(f"load_mnist: data folder {folder} does not exist (or is not a folder); "
                               f"it should hold {expected} (or let load_dataset(..., download=True) fetch and verify them)")
    found = {}
    for part in ("images", "labels"):
        names = _mnist_candidates(prefix, part)
        hits = [folder / name for name in names if (folder / name).is_file()]
        if not hits:
            raise MissingDataError(f"load_mnist: no {kind} {part} file in {folder}: looked for "
                                   f"{', '.join(names)}")
        found[part] = hits[0]
    return _mnist_arrays(found["images"], found["labels"])


def _mnist_arrays(images_path: Path, labels_path: Path) -> Tuple[np.ndarray, np.ndarray]:
    """An IDX image file and its label file -> float32 (N, 1, H, W) in [0, 1] and int64 (N,), checked."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"load_mnist: {images_path}: expected uint8 images of shape (N, H, W), "
                        f"got {images.dtype} of shape {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"load_mnist: {labels_path}: expected labels of shape (N,), got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"load_mnist: {images_path} holds {len(images)} images but "
                        f"{labels_path} holds {len(labels)} labels")
    scaled = images.astype(np.float32)
    scaled /= np.float32(255.0)
    return scaled[:, None, :, :], labels.astype(np.int64)


# ----------------------------------------------------------------------------------------------------
# 3. Batching
# ----------------------------------------------------------------------------------------------------

class DataLoader:
    """Iterate over mini-batches of ``x`` (and ``y``): each batch is ``(xb, yb)`` numpy arrays, or just
    ``xb`` when there is no ``y``.

    ``DataLoader(x, y, batch_size=32, shuffle=True, seed=0)`` or ``DataLoader((x, y), ...)``.
    With ``shuffle`` every epoch (every ``iter()``) uses a new order, the permutation drawn from
    ``(seed, epoch)`` alone -- so ``set_epoch(k)`` on a fresh loader reproduces exactly the k-th epoch of
    an uninterrupted run (epochs count from 0). Without a ``seed``, one is drawn at random and kept in
    ``self.seed``. ``len(loader)`` is the number of batches; ``drop_last`` drops a final short batch.
    Unshuffled batches are views of ``x``/``y`` (no copy): copy a batch before changing it in place.
    """

    def __init__(self, x, y=None, batch_size: int = 32, shuffle: bool = False, drop_last: bool = False,
                 seed: Optional[int] = None) -> None:
        if y is None and isinstance(x, tuple):  # a dataset given as one (x, y) pair (a list is samples)
            if len(x) != 2:
                raise ValueError(f"DataLoader: a dataset tuple must be (x, y), got a tuple of {len(x)} items")
            x, y = x
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be at least 1, got {batch_size}")
        self.x = np.asarray(x)
        self.y = None if y is None else np.asarray(y)
        if self.x.ndim == 0 or (self.y is not None and self.y.ndim == 0):
            raise ShapeError(f"DataLoader: x and y need a sample axis, got shapes {self.x.shape} and "
                             f"{None if self.y is None else self.y.shape}")
        if self.y is not None and len(self.x) != len(self.y):
            raise ShapeError(f"DataLoader: x has {len(self.x)} samples but y has {len(self.y)}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        # A random seed when none is given, kept so that even an unseeded run can be reproduced later.
        self.seed = int(np.random.SeedSequence().entropy % 2 ** 63) if seed is None else int(seed)
        self.epoch = 0  # the epoch the next iter() will produce

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` produce epoch ``epoch`` (its shuffle order); use it to resume training."""
        if epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        """What a checkpoint needs to resume the same batch order: ``{"seed": ..., "epoch": ...}``."""
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``seed`` and ``epoch`` saved by ``state_dict``."""
        missing = {"seed", "epoch"} - set(state)
        if missing:
            raise KeyError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}")
        self.seed = int(state["seed"])
        self.set_epoch(int(state["epoch"]))

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of epoch ``epoch`` in the order they are served."""
        n = len(self.x)
        if not self.shuffle:
            return np.arange(n)
        # Seeding from (seed, epoch) rather than advancing one generator makes epoch k's order
        # independent of how many epochs ran before it in this process.
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def __iter__(self) -> Iterator:
        indices = self.order(self.epoch)
        self.epoch += 1  # counted when the epoch starts, so an epoch abandoned halfway still moves on
        for b in range(len(self)):
            batch = indices[b * self.batch_size:(b + 1) * self.batch_size]
            if self.shuffle:
                xb = self.x[batch]
                yb = None if self.y is None else self.y[batch]
            else:  # contiguous slices are views: no copy
                xb = self.x[batch[0]:batch[-1] + 1]
                yb = None if self.y is None else self.y[batch[0]:batch[-1] + 1]
            yield xb if yb is None else (xb, yb)

    def __repr__(self) -> str:
        return (f"DataLoader({len(self.x)} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}, epoch={self.epoch})")


# The modules below build on the readers above (they import them from this package), so they come last.
from .download import ChecksumError, DownloadError  # noqa: E402
from .cifar import read_cifar10_archive, write_cifar10_archive  # noqa: E402
from .datasets import DATASET_NAMES, load_dataset  # noqa: E402

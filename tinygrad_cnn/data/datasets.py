"""``load_dataset``: the bundled digits, MNIST, Fashion-MNIST and CIFAR-10, downloaded once, verified, cached.

The cache holds the files exactly as published (``train-images-idx3-ubyte.gz``, ...,
``cifar-10-binary.tar.gz``), one folder per dataset under the root (``~/.cache/tinygrad_cnn/datasets``,
or ``$TINYGRAD_CNN_DATA``). Every file's checksum is checked each time it is used, so a damaged or
swapped file is never read; reading a cached dataset needs no network.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import MissingDataError, _mnist_arrays, _mnist_candidates, load_digits, load_mnist, train_test_split
from .cifar import CIFAR10_ARCHIVE, read_cifar10_archive
from .download import ChecksumError, DownloadError, check_digest, default_root, digest_kind, fetch_file, mirror_url

__all__ = ["DatasetInfo", "DATASET_INFO", "DATASET_NAMES", "SPLITS", "load_dataset", "load_train_and_test",
           "dataset_folder"]

PathLike = Union[str, "os.PathLike[str]"]
SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is and where it lives: its files per split, published checksums and mirrors."""

    name: str
    files: Mapping[str, Tuple[str, ...]]   # split -> the published file names it needs
    checksums: Mapping[str, str]           # file name -> published hex digest (md5 or sha256)
    mirrors: Tuple[str, ...]               # base URLs, tried in order
    homepage: str
    image_shape: Tuple[int, int, int]      # (C, H, W)
    num_classes: int


_MNIST_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}

DATASET_INFO: Dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist", files=_MNIST_FILES,
        # md5 of the published files as listed in torchvision's MNIST.resources
        # (github.com/pytorch/vision, torchvision/datasets/mnist.py).
        checksums={"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                   "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                   "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                   "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",     # torchvision's mirror (MNIST.mirrors)
            "https://storage.googleapis.com/cvdf-datasets/mnist/",  # CVDF's, used by TensorFlow's and JAX's examples
            "http://yann.lecun.com/exdb/mnist/",                  # the home page; often refuses automated downloads
        ),
        homepage="http://yann.lecun.com/exdb/mnist/", image_shape=(1, 28, 28), num_classes=10),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist", files=_MNIST_FILES,
        # md5 from the "Get the Data" table of github.com/zalandoresearch/fashion-mnist (README.md);
        # torchvision's FashionMNIST.resources lists the same four values.
        checksums={"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                   "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                   "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                   "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # the README's download links
            # the repository's own copy ("the dataset appears under data/fashion", README.md)
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        homepage="https://github.com/zalandoresearch/fashion-mnist", image_shape=(1, 28, 28), num_classes=10),
    "cifar10": DatasetInfo(
        name="cifar10", files={"train": (CIFAR10_ARCHIVE,), "test": (CIFAR10_ARCHIVE,)},
        # md5 published on the dataset's home page, https://www.cs.toronto.edu/~kriz/cifar.html:
        # "CIFAR-10 binary version (suitable for C programs) | 162 MB | c32a1d4ab5d03f1284b67883e8d87530".
        # (torchvision downloads the *Python* version instead, c58f30108f718f92721af3b95e74349a, whose
        # batches are serialized Python objects: loading them can run code.)
        checksums={CIFAR10_ARCHIVE: "c32a1d4ab5d03f1284b67883e8d87530"},
        mirrors=("https://www.cs.toronto.edu/~kriz/",),  # the home page, the one published source
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html", image_shape=(3, 32, 32), num_classes=10),
}
DATASET_NAMES = ("digits",) + tuple(DATASET_INFO)
_DIGITS_SHAPE, _DIGITS_TEST_FRACTION = (1, 8, 8), 0.2


def dataset_folder(name: str, root: Optional[PathLike] = None) -> Path:
    """The folder that caches dataset ``name``: ``root / name`` (root: ``default_root()`` when None)."""
    base = Path(root).expanduser() if root is not None else default_root()
    return base / name


def _mirror_list(mirrors: Union[None, str, Iterable[str]], info: DatasetInfo) -> Tuple[str, ...]:
    if mirrors is None:
        return info.mirrors
    listed = (mirrors,) if isinstance(mirrors, str) else tuple(mirrors)
    if not listed or not all(isinstance(m, str) and m for m in listed):
        raise ValueError(f"load_dataset: mirrors must be a non-empty list of base URLs, got {mirrors!r}")
    return listed


def _checksum_table(checksums: Optional[Mapping[str, str]], info: DatasetInfo) -> Dict[str, str]:
    table = dict(info.checksums)
    for name, value in (checksums or {}).items():
        try:
            digest_kind(value)
        except ValueError as err:
            raise ValueError(f"load_dataset: checksums[{name!r}]: {err}") from None
        table[name] = value
    return table


def _by_hand(info: DatasetInfo, folder: Path) -> str:
    """Where to put which files by hand: every file of the dataset (all splits) not yet in ``folder``."""
    names = [n for n in dict.fromkeys(n for split in SPLITS for n in info.files[split]) if not (folder / n).is_file()]
    return (f"to add them by hand, download {', '.join(names)} (from {info.homepage}) and put "
            f"{'it' if len(names) == 1 else 'them'} into {folder}")


def _ensure_files(info: DatasetInfo, split: str, folder: Path, download: bool, mirrors: Tuple[str, ...],
                  checksums: Mapping[str, str], progress: Optional[bool]) -> List[Path]:
    """The split's files in ``folder``, each verified; missing ones downloaded when ``download``."""
    names = info.files[split]
    missing = [n for n in names if not (folder / n).is_file()]
    for name in names:
        if name in missing:
            continue
        matches, actual = check_digest(folder / name, checksums[name])
        if matches:
            continue
        if not download:
            raise ChecksumError(
                f"{info.name}: {folder / name} has {digest_kind(checksums[name])} {actual}, expected "
                f"{checksums[name].lower()}: the file is damaged or another file; delete it and pass "
                f"download=True (command line: --download) to fetch it again")
        (folder / name).unlink()
        missing.append(name)
    if missing and not download:
        raise MissingDataError(
            f"{info.name}: not downloaded yet: {folder} lacks {', '.join(missing)}. Pass download=True "
            f"(command line: --download) to fetch {'it' if len(missing) == 1 else 'them'} from "
            f"{mirror_url(mirrors[0], missing[0]) if mirrors else info.homepage}"
            f"{' or another mirror' if len(mirrors) > 1 else ''}, or point root= (--data-dir) at the folder "
            f"that holds a {info.name}/ folder with them; {_by_hand(info, folder)}")
    for name in missing:
        try:
            fetch_file(name, folder, mirrors, checksums[name], dataset=info.name, progress=progress)
        except DownloadError as err:  # ChecksumError included: add where the files go by hand
            raise type(err)(f"{err}; {_by_hand(info, folder)}") from None
    return [folder / name for name in names]


def load_dataset(name: str, split: str = "train", root: Optional[PathLike] = None, download: bool = False,
                 mirrors: Union[None, str, Sequence[str]] = None, checksums: Optional[Mapping[str, str]] = None,
                 progress: Optional[bool] = None) -> Tuple[np.ndarray, np.ndarray]:
    """A dataset's ``split`` ('train' or 'test') as ``(images, labels)``: float32 NCHW images in [0, 1]
    and int64 labels.

    ``name``: 'digits' (bundled, 1×8×8; its train/test split is ``train_test_split`` with seed 0 and 20%
    held out), 'mnist' and 'fashion-mnist' (1×28×28, 60,000 train / 10,000 test), 'cifar10' (3×32×32,
    50,000 / 10,000, the binary version -- never the Python one, whose loading runs code).

    Files are cached in ``root / name`` (root: ``$TINYGRAD_CNN_DATA`` or ``~/.cache/tinygrad_cnn/datasets``).
    Missing files raise ``MissingDataError`` unless ``download``, which fetches each from ``mirrors`` (base
    URLs, tried in order; default: the dataset's published homes and well-known mirrors) into a ``.part``
    file -- resumed with an HTTP Range request if a transfer was interrupted -- that becomes the file only
    after its checksum matched. ``checksums`` (file name -> md5 or sha256 hex) overrides the built-in table
    of published checksums, e.g. for a private mirror. Every file is verified each time before it is read.
    ``progress``: a tqdm bar while downloading (default: only when standard error is a terminal).

    Raises ``DownloadError`` listing every URL tried when no mirror delivers, ``ChecksumError`` naming the
    file, the expected and actual digests and the URL when contents do not match, ``DataError`` for a
    malformed file.
    """
    if name not in DATASET_NAMES:
        raise ValueError(f"load_dataset: unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    if split not in SPLITS:
        raise ValueError(f"load_dataset: split must be 'train' or 'test', got {split!r}")
    if name == "digits":
        images, labels = load_digits()
        x_train, x_test, y_train, y_test = train_test_split(images, labels, _DIGITS_TEST_FRACTION, seed=0)
        return (x_train, y_train) if split == "train" else (x_test, y_test)
    info = DATASET_INFO[name]
    folder = dataset_folder(name, root)
    paths = _ensure_files(info, split, folder, download, _mirror_list(mirrors, info),
                          _checksum_table(checksums, info), progress)
    if name == "cifar10":
        return read_cifar10_archive(paths[0], split)
    return _mnist_arrays(paths[0], paths[1])


def _holds_idx_files(folder: Path) -> bool:
    return any((folder / n).is_file() for n in _mnist_candidates("train", "images"))


def load_train_and_test(name: str, root: Optional[PathLike] = None, download: bool = False,
                        mirrors: Union[None, str, Sequence[str]] = None, progress: Optional[bool] = None
                        ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` of dataset ``name`` as the command line loads it.

    As ``load_dataset``, except that for 'mnist' and 'fashion-mnist' a ``root`` that itself holds
    MNIST-format IDX files (``train-images-idx3-ubyte[.gz]``, ... -- e.g. a folder you unpacked by hand,
    or EMNIST) is read as it is with ``load_mnist``: such files have no published checksum to verify.
    """
    if root is not None and name in ("mnist", "fashion-mnist") and not download \
            and not dataset_folder(name, root).is_dir() and _holds_idx_files(Path(root).expanduser()):
        x_train, y_train = load_mnist(root, "train")
        x_test, y_test = load_mnist(root, "test")
        return x_train, y_train, x_test, y_test
    x_train, y_train = load_dataset(name, "train", root, download, mirrors, progress=progress)
    x_test, y_test = load_dataset(name, "test", root, download, mirrors, progress=progress)
    return x_train, y_train, x_test, y_test

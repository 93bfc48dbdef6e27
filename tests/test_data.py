"""tinygrad_cnn.data: the bundled digits, splitting, the IDX reader/writer, load_mnist and DataLoader."""
import gzip
import re

import numpy as np
import pytest

from tinygrad_cnn.errors import DTypeError, ShapeError, TinygradError
from tinygrad_cnn.data import (DataError, DataLoader, MissingDataError, load_digits, load_mnist, read_idx,
                               train_test_split, write_idx)

DIGIT_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # as the UCI description lists them


# ---------------------------------------------------------------------------------------------- digits

def test_digits_shape_dtype_range():
    images, labels = load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert np.bincount(labels).tolist() == DIGIT_CLASS_COUNTS


def test_digits_raw_counts_are_whole_numbers_0_to_16():
    raw, _ = load_digits(normalize=False)
    assert raw.dtype == np.float32 and raw.max() == 16.0
    np.testing.assert_array_equal(raw, np.round(raw))
    np.testing.assert_array_equal(load_digits()[0], raw / 16)


def test_digits_first_image_matches_the_file():
    images, labels = load_digits(normalize=False)
    first_row = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0]  # the file's first 16 pixels
    np.testing.assert_array_equal(images[0, 0, :2].reshape(-1), first_row)
    assert labels[:3].tolist() == [0, 1, 2]


def test_digits_cache_is_not_changed_by_callers():
    images, labels = load_digits()
    images[:] = -1.0
    labels[:] = -1
    images2, labels2 = load_digits()
    assert images2.min() == 0.0 and labels2.min() == 0


# ---------------------------------------------------------------------------------------------- split

def test_split_is_deterministic_for_a_seed_and_differs_across_seeds():
    x, y = load_digits()
    first, again = train_test_split(x, y, seed=3), train_test_split(x, y, seed=3)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    other = train_test_split(x, y, seed=4)
    assert not np.array_equal(first[3], other[3])


@pytest.mark.parametrize("test_fraction", [0.2, 0.1, 0.5])
def test_split_is_stratified_and_sized(test_fraction):
    x, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_fraction=test_fraction)
    assert len(y_test) == round(test_fraction * len(y)) and len(y_train) + len(y_test) == len(y)
    share = np.bincount(y_test, minlength=10) / np.bincount(y, minlength=10)
    assert np.all(np.abs(share - test_fraction) < 1.0 / 170)  # within one sample per class


def test_split_parts_are_disjoint_and_cover_everything():
    ids = np.arange(103)
    labels = ids % 4
    for stratify in (True, False):
        id_train, id_test, y_train, y_test = train_test_split(ids, labels, test_fraction=0.3, stratify=stratify)
        assert set(id_train).isdisjoint(id_test)
        assert sorted(np.concatenate([id_train, id_test]).tolist()) == ids.tolist()
        np.testing.assert_array_equal(y_train, id_train % 4)  # x and y stay paired
        np.testing.assert_array_equal(y_test, id_test % 4)


def test_split_unstratified_is_a_shuffle():
    ids = np.arange(50)
    id_train, id_test, _, _ = train_test_split(ids, ids, test_fraction=0.2, stratify=False, seed=0)
    assert len(id_test) == 10 and not np.array_equal(np.sort(id_test), np.arange(40, 50))


def test_split_mismatched_lengths():
    with pytest.raises(ShapeError, match="x has 5 samples but y has 4"):
        train_test_split(np.zeros(5), np.zeros(4))


@pytest.mark.parametrize("test_fraction", [0.0, 1.0, -0.1])
def test_split_bad_fraction(test_fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_split(np.zeros(10), np.zeros(10), test_fraction=test_fraction)


def test_split_fraction_that_leaves_a_part_empty():
    with pytest.raises(ValueError, match="0 test and 3 training"):
        train_test_split(np.zeros(3), np.zeros(3), test_fraction=0.1)


# ---------------------------------------------------------------------------------------------- IDX

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def _sample(dtype, shape=(3, 4, 5)):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", IDX_DTYPES)
def test_idx_round_trip(tmp_path, dtype, suffix):
    array = _sample(dtype)
    path = tmp_path / f"sample-idx3-ubyte{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")


@pytest.mark.parametrize("shape", [(7,), (2, 3), (2, 1, 3, 2)])
def test_idx_round_trip_shapes(tmp_path, shape):
    array = _sample(np.int16, shape)
    write_idx(tmp_path / "a.idx", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), array)


def test_idx_header_is_the_mnist_layout(tmp_path):
    write_idx(tmp_path / "a", np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert (tmp_path / "a").read_bytes() == bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 2, 3, 4, 5])


def test_idx_values_are_big_endian_on_disk(tmp_path):
    write_idx(tmp_path / "a", np.array([1], dtype=np.int32))
    assert (tmp_path / "a").read_bytes()[-4:] == b"\x00\x00\x00\x01"


def test_idx_gzip_is_detected_by_content_not_name(tmp_path):
    array = _sample(np.float32)
    write_idx(tmp_path / "a.gz", array)
    (tmp_path / "a.gz").rename(tmp_path / "no-extension")
    np.testing.assert_array_equal(read_idx(tmp_path / "no-extension"), array)


def test_idx_returns_a_writeable_native_array(tmp_path):
    write_idx(tmp_path / "a", _sample(np.float64))
    back = read_idx(tmp_path / "a")
    assert back.dtype.isnative and back.flags.writeable


def test_idx_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    write_idx(tmp_path / "a", _sample(np.uint8))
    write_idx(tmp_path / "a", _sample(np.int8))  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["a"]
    assert read_idx(tmp_path / "a").dtype == np.int8


def _write_bytes(tmp_path, blob, name="bad-idx"):
    path = tmp_path / name
    path.write_bytes(blob)
    return path


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_truncated_data(tmp_path, suffix):
    write_idx(tmp_path / "full", np.zeros((4, 5, 5), dtype=np.int16))
    blob = (tmp_path / "full").read_bytes()[:-10]
    path = _write_bytes(tmp_path, gzip.compress(blob) if suffix else blob, "short" + suffix)
    with pytest.raises(DataError, match=re.escape(f"{path}: truncated") + r".*expects 200 bytes of data, got 190"):
        read_idx(path)


def test_idx_trailing_bytes(tmp_path):
    write_idx(tmp_path / "full", np.zeros(3, dtype=np.uint8))
    path = _write_bytes(tmp_path, (tmp_path / "full").read_bytes() + b"\x00\x00")
    with pytest.raises(DataError, match="trailing bytes.*expects 3 bytes of data, got 5"):
        read_idx(path)


def test_idx_truncated_gzip_stream(tmp_path):
    write_idx(tmp_path / "full.gz", _sample(np.float32, (20, 20)))
    path = _write_bytes(tmp_path, (tmp_path / "full.gz").read_bytes()[:-30], "cut.gz")
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*damaged gzip"):
        read_idx(path)


def test_idx_bad_magic(tmp_path):
    path = _write_bytes(tmp_path, b"PK\x03\x04" + bytes(20))
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*bad magic number 0x504b0304"):
        read_idx(path)


def test_idx_unknown_type_code(tmp_path):
    path = _write_bytes(tmp_path, bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 0]))
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*unknown IDX type code 0x0A"):
        read_idx(path)


def test_idx_dims_that_do_not_match_the_data(tmp_path):
    # the header promises 3 dimensions of 10 (1000 bytes) but the data holds 10 bytes
    path = _write_bytes(tmp_path, bytes([0, 0, 8, 3]) + bytes([0, 0, 0, 10]) * 3 + bytes(10))
    with pytest.raises(DataError, match=r"shape \(10, 10, 10\).*expects 1000 bytes of data, got 10"):
        read_idx(path)


def test_idx_truncated_header(tmp_path):
    path = _write_bytes(tmp_path, bytes([0, 0, 8, 3, 0, 0, 0, 2]))
    with pytest.raises(DataError, match="truncated header: 3 dimensions need 16 header bytes, the file has 8"):
        read_idx(path)


def test_idx_zero_dims(tmp_path):
    path = _write_bytes(tmp_path, bytes([0, 0, 8, 0]))
    with pytest.raises(DataError, match="0 dimensions"):
        read_idx(path)


def test_idx_too_short_for_magic(tmp_path):
    path = _write_bytes(tmp_path, b"\x00\x00")
    with pytest.raises(DataError, match="2 bytes is too short"):
        read_idx(path)


def test_idx_missing_file(tmp_path):
    with pytest.raises(MissingDataError, match=re.escape(str(tmp_path / "nope")) + ": no such file"):
        read_idx(tmp_path / "nope")


def test_data_errors_are_library_errors_and_builtin_kinds():
    assert issubclass(DataError, TinygradError) and issubclass(DataError, ValueError)
    assert issubclass(MissingDataError, DataError) and issubclass(MissingDataError, FileNotFoundError)


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.bool_, np.uint16])
def test_write_idx_unsupported_dtype(tmp_path, dtype):
    with pytest.raises(DTypeError, match=f"dtype {np.dtype(dtype)} has no IDX type code"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=dtype))
    assert list(tmp_path.iterdir()) == []


def test_write_idx_scalar(tmp_path):
    with pytest.raises(ShapeError, match=r"1 to 255 dimensions, got shape \(\)"):
        write_idx(tmp_path / "a", np.uint8(3))


# ---------------------------------------------------------------------------------------------- MNIST

def _fake_mnist(folder, prefix="train", count=5, gz=False, label_count=None, sep="-"):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=label_count or count).astype(np.uint8)
    ext = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images{sep}idx3-ubyte{ext}", images)
    write_idx(folder / f"{prefix}-labels{sep}idx1-ubyte{ext}", labels)
    return images, labels


@pytest.mark.parametrize("kind, prefix, gz", [("train", "train", False), ("test", "t10k", True)])
def test_load_mnist(tmp_path, kind, prefix, gz):
    raw_images, raw_labels = _fake_mnist(tmp_path, prefix, gz=gz)
    images, labels = load_mnist(tmp_path, kind)
    assert images.shape == (5, 1, 28, 28) and images.dtype == np.float32
    assert labels.shape == (5,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_allclose(images[:, 0] * 255, raw_images, atol=1e-4)
    np.testing.assert_array_equal(labels, raw_labels)


def test_load_mnist_accepts_dotted_mirror_names(tmp_path):
    _fake_mnist(tmp_path, sep=".")
    assert load_mnist(str(tmp_path))[0].shape == (5, 1, 28, 28)


def test_load_mnist_missing_folder(tmp_path):
    folder = tmp_path / "mnist"
    with pytest.raises(MissingDataError, match=re.escape(str(folder)) + " does not exist.*train-images-idx3-ubyte"):
        load_mnist(folder)


def test_load_mnist_missing_labels(tmp_path):
    _fake_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(MissingDataError, match=f"no train labels file in {re.escape(str(tmp_path))}: looked for "
                       "train-labels-idx1-ubyte, train-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path)


def test_load_mnist_test_files_missing_when_only_train_present(tmp_path):
    _fake_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, "test")


def test_load_mnist_count_mismatch(tmp_path):
    _fake_mnist(tmp_path, label_count=4)
    with pytest.raises(DataError, match="holds 5 images but .*train-labels-idx1-ubyte holds 4 labels"):
        load_mnist(tmp_path)


def test_load_mnist_images_with_wrong_rank(tmp_path):
    _fake_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 784), dtype=np.uint8))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: expected uint8 images of shape \(N, H, W\)"):
        load_mnist(tmp_path)


def test_load_mnist_bad_kind(tmp_path):
    with pytest.raises(ValueError, match="kind must be 'train' or 'test', got 'validation'"):
        load_mnist(tmp_path, "validation")


# ---------------------------------------------------------------------------------------------- DataLoader

def _ids(n=10):
    x = np.arange(n, dtype=np.float32).reshape(n, 1) * np.ones((1, 3), np.float32)
    return x, np.arange(n)


def test_loader_batches_in_order():
    x, y = _ids(10)
    batches = list(DataLoader(x, y, batch_size=4))
    assert [len(yb) for _, yb in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)
    np.testing.assert_array_equal(batches[1][0], x[4:8])
    assert batches[0][0].shape == (4, 3)


@pytest.mark.parametrize("n, batch_size, drop_last, expected", [
    (10, 4, False, 3), (10, 4, True, 2), (8, 4, False, 2), (8, 4, True, 2), (3, 4, True, 0), (0, 4, False, 0)])
def test_loader_len(n, batch_size, drop_last, expected):
    x, y = _ids(n)
    loader = DataLoader(x, y, batch_size=batch_size, drop_last=drop_last, shuffle=True, seed=0)
    assert len(loader) == expected == len(list(loader))


def test_loader_drop_last_drops_only_the_short_batch():
    x, y = _ids(10)
    assert [len(yb) for _, yb in DataLoader(x, y, batch_size=4, drop_last=True)] == [4, 4]


def test_loader_accepts_a_dataset_tuple_and_x_alone():
    x, y = _ids(6)
    xb, yb = next(iter(DataLoader((x, y), batch_size=6)))
    np.testing.assert_array_equal(yb, y)
    only = list(DataLoader(x, batch_size=4))
    assert isinstance(only[0], np.ndarray) and [len(b) for b in only] == [4, 2]


def _epoch_orders(loader, epochs):
    return [np.concatenate([yb for _, yb in loader]) for _ in range(epochs)]


def test_loader_shuffle_is_reproducible_for_a_seed():
    x, y = _ids(50)
    first = _epoch_orders(DataLoader(x, y, batch_size=8, shuffle=True, seed=7), 3)
    again = _epoch_orders(DataLoader(x, y, batch_size=8, shuffle=True, seed=7), 3)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], _epoch_orders(DataLoader(x, y, batch_size=8, shuffle=True, seed=8), 1)[0])


def test_loader_shuffle_differs_each_epoch_and_keeps_pairs():
    x, y = _ids(50)
    loader = DataLoader(x, y, batch_size=8, shuffle=True, seed=0)
    orders = _epoch_orders(loader, 3)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    for order in orders:
        assert sorted(order.tolist()) == list(range(50))  # a permutation: every sample once
    for xb, yb in loader:
        np.testing.assert_array_equal(xb[:, 0], yb)  # x rows stay with their labels


def test_loader_resume_at_epoch_matches_uninterrupted_run():
    x, y = _ids(40)
    uninterrupted = _epoch_orders(DataLoader(x, y, batch_size=8, shuffle=True, seed=3), 5)
    resumed = DataLoader(x, y, batch_size=8, shuffle=True, seed=3)
    resumed.set_epoch(3)
    for expected, got in zip(uninterrupted[3:], _epoch_orders(resumed, 2)):
        np.testing.assert_array_equal(expected, got)


def test_loader_state_dict_round_trip():
    x, y = _ids(40)
    loader = DataLoader(x, y, batch_size=8, shuffle=True)  # unseeded: a random seed is kept
    _epoch_orders(loader, 2)
    state = loader.state_dict()
    assert state["epoch"] == 2
    restored = DataLoader(x, y, batch_size=8, shuffle=True)
    restored.load_state_dict(state)
    np.testing.assert_array_equal(_epoch_orders(loader, 1)[0], _epoch_orders(restored, 1)[0])


def test_loader_mismatched_lengths():
    with pytest.raises(ShapeError, match="x has 10 samples but y has 9"):
        DataLoader(np.zeros((10, 2)), np.zeros(9))


@pytest.mark.parametrize("batch_size, error, message", [
    (0, ValueError, "batch_size must be at least 1, got 0"),
    (-2, ValueError, "batch_size must be at least 1, got -2"),
    (2.5, TypeError, "batch_size must be an int, got float"),
    (True, TypeError, "batch_size must be an int, got bool")])
def test_loader_bad_batch_size(batch_size, error, message):
    with pytest.raises(error, match=message):
        DataLoader(np.zeros(4), np.zeros(4), batch_size=batch_size)


def test_loader_bad_dataset_tuple():
    with pytest.raises(ValueError, match="tuple of 3 items"):
        DataLoader((np.zeros(4), np.zeros(4), np.zeros(4)))


def test_loader_set_epoch_negative():
    with pytest.raises(ValueError, match="epoch must be >= 0, got -1"):
        DataLoader(np.zeros(4)).set_epoch(-1)

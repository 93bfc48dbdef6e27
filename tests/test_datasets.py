"""load_dataset: downloads from a local HTTP server on 127.0.0.1 (no internet), verified and cached.

The server serves generated files in the real formats (small gzipped IDX files, a small
cifar-10-binary.tar.gz); their checksums are passed with ``checksums=``. It can answer 404 under a
"dead" prefix, cut a transfer short once, and honour or ignore HTTP Range requests.
"""
import hashlib
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tinygrad_cnn.data import (ChecksumError, DataError, DownloadError, MissingDataError, load_dataset,
                               read_cifar10_archive, write_cifar10_archive, write_idx)
from tinygrad_cnn.data import datasets as datasets_module
from tinygrad_cnn.data.cifar import parse_cifar10_batch
from tinygrad_cnn.data.download import default_root

ROOT = Path(__file__).resolve().parents[1]
MNIST_NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
CIFAR = "cifar-10-binary.tar.gz"


# ------------------------------------------------------------------------------------------------ server

class FileServer:
    """A threaded HTTP server on 127.0.0.1 with a free port, serving ``files`` (URL path -> bytes)."""

    def __init__(self):
        self.files = {}
        self.requests = []          # (path, Range header or None), in order
        self.cut_once = {}          # path -> bytes to send before dropping the connection (once)
        self.honour_ranges = True
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                path, wanted = self.path, self.headers.get("Range")
                server.requests.append((path, wanted))
                blob = server.files.get(path)
                if blob is None:
                    self.send_error(404)
                    return
                start = 0
                if wanted and server.honour_ranges:
                    start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
                    if start >= len(blob):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(blob)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(blob) - 1}/{len(blob)}")
                else:
                    self.send_response(200)
                body = blob[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.cut_once.pop(path, None)
                self.wfile.write(body if cut is None else body[:cut])  # HTTP/1.0: the connection closes after

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def paths_requested(self):
        return [path for path, _ in self.requests]


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def md5(blob):
    return hashlib.md5(blob).hexdigest()


def sha256(blob):
    return hashlib.sha256(blob).hexdigest()


@pytest.fixture
def server():
    srv = FileServer()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def mnist_files(tmp_path_factory):
    """Small MNIST-format files as published (gzipped IDX) and the arrays they hold."""
    folder = tmp_path_factory.mktemp("mnist-src")
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", 24), ("t10k", 9)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
        arrays[prefix] = (images, labels)
    blobs = {name: (folder / name).read_bytes() for name in MNIST_NAMES}
    return blobs, arrays


@pytest.fixture(scope="module")
def cifar_file(tmp_path_factory):
    """A small cifar-10-binary.tar.gz: a few records per batch, as the real archive lays them out."""
    rng = np.random.default_rng(1)
    batches = {f"data_batch_{i}.bin": (rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n))
               for i, n in zip(range(1, 6), (2, 3, 1, 2, 2))}
    batches["test_batch.bin"] = (rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 3))
    path = tmp_path_factory.mktemp("cifar-src") / CIFAR
    write_cifar10_archive(path, batches)
    return path.read_bytes(), batches


def serve(server, blobs, prefix="/good/"):
    for name, blob in blobs.items():
        server.files[prefix + name] = blob
    return server.url + prefix


# ------------------------------------------------------------------------------------------------ downloads

def test_download_then_the_cache_needs_no_network(server, mnist_files, tmp_path):
    blobs, arrays = mnist_files
    mirror = serve(server, blobs)
    sums = {name: md5(blob) for name, blob in blobs.items()}
    images, labels = load_dataset("mnist", "train", root=tmp_path, download=True, mirrors=[mirror], checksums=sums)
    expected_images, expected_labels = arrays["train"]
    assert images.dtype == np.float32 and images.shape == (24, 1, 28, 28)
    assert labels.dtype == np.int64 and np.array_equal(labels, expected_labels)
    np.testing.assert_array_equal(images[:, 0], expected_images.astype(np.float32) / 255)
    assert sorted(os.listdir(tmp_path / "mnist")) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").read_bytes() == blobs["train-images-idx3-ubyte.gz"]
    server.files.clear()  # the mirror has nothing now: the second call must read the cache
    again_images, again_labels = load_dataset("mnist", "train", root=tmp_path, download=True,
                                              mirrors=[mirror], checksums=sums)
    assert np.array_equal(again_images, images) and np.array_equal(again_labels, labels)
    assert len(server.requests) == 2


def test_mirror_fallback_first_dead_second_alive(server, mnist_files, tmp_path):
    blobs, _ = mnist_files
    good = serve(server, blobs)
    dead = server.url + "/dead/"   # answers 404
    refused = closed_port_url()     # nothing listens
    sums = {name: md5(blob) for name, blob in blobs.items()}
    images, _ = load_dataset("mnist", "test", root=tmp_path, download=True, mirrors=[refused, dead, good],
                             checksums=sums)
    assert images.shape == (9, 1, 28, 28)
    assert server.paths_requested() == ["/dead/t10k-images-idx3-ubyte.gz", "/good/t10k-images-idx3-ubyte.gz",
                                        "/dead/t10k-labels-idx1-ubyte.gz", "/good/t10k-labels-idx1-ubyte.gz"]


@pytest.mark.parametrize("digest", [md5, sha256], ids=["md5", "sha256"])
def test_md5_and_sha256_checksums_are_both_checked(server, mnist_files, tmp_path, digest):
    blobs, _ = mnist_files
    mirror = serve(server, blobs)
    sums = {name: digest(blob) for name, blob in blobs.items()}
    images, labels = load_dataset("fashion-mnist", "test", root=tmp_path, download=True, mirrors=mirror,
                                  checksums=sums)
    assert len(images) == len(labels) == 9
    wrong = dict(sums, **{"t10k-images-idx3-ubyte.gz": digest(b"something else")})
    with pytest.raises(ChecksumError, match=digest.__name__):
        load_dataset("fashion-mnist", "test", root=tmp_path / "other", download=True, mirrors=mirror, checksums=wrong)


def test_checksum_mismatch_names_file_digests_and_url_and_leaves_nothing(server, mnist_files, tmp_path):
    blobs, _ = mnist_files
    mirror = serve(server, blobs)
    name = "train-images-idx3-ubyte.gz"
    expected = "0123456789abcdef0123456789abcdef"
    sums = dict({n: md5(b) for n, b in blobs.items()}, **{name: expected})
    with pytest.raises(ChecksumError) as caught:
        load_dataset("mnist", "train", root=tmp_path, download=True, mirrors=[mirror], checksums=sums)
    message = str(caught.value)
    assert name in message and expected in message and md5(blobs[name]) in message
    assert mirror + name in message
    assert str(tmp_path / "mnist") in message            # where to put the files by hand
    assert os.listdir(tmp_path / "mnist") == []          # no file, no .part


def test_a_mirror_serving_other_contents_is_skipped_and_its_file_deleted(server, mnist_files, tmp_path):
    blobs, arrays = mnist_files
    bad = serve(server, {name: b"\x1f\x8b not the file" for name in blobs}, prefix="/bad/")
    good = serve(server, blobs)
    sums = {name: md5(blob) for name, blob in blobs.items()}
    _, labels = load_dataset("mnist", "train", root=tmp_path, download=True, mirrors=[bad, good], checksums=sums)
    assert np.array_equal(labels, arrays["train"][1])
    assert server.paths_requested()[:2] == ["/bad/train-images-idx3-ubyte.gz", "/good/train-images-idx3-ubyte.gz"]
    assert not any(name.endswith(".part") for name in os.listdir(tmp_path / "mnist"))


def test_a_truncated_transfer_is_resumed_with_a_range_request(server, cifar_file, tmp_path):
    blob, _ = cifar_file
    mirror = serve(server, {CIFAR: blob})
    half = len(blob) // 2
    server.cut_once["/good/" + CIFAR] = half
    images, labels = load_dataset("cifar10", "test", root=tmp_path, download=True, mirrors=[mirror],
                                  checksums={CIFAR: md5(blob)})
    assert images.shape == (3, 3, 32, 32)
    assert server.requests == [("/good/" + CIFAR, None), ("/good/" + CIFAR, f"bytes={half}-")]
    assert (tmp_path / "cifar10" / CIFAR).read_bytes() == blob
    assert os.listdir(tmp_path / "cifar10") == [CIFAR]


def test_a_part_file_left_by_an_interrupted_run_is_resumed(server, cifar_file, tmp_path):
    blob, _ = cifar_file
    mirror = serve(server, {CIFAR: blob})
    folder = tmp_path / "cifar10"
    folder.mkdir()
    (folder / (CIFAR + ".part")).write_bytes(blob[:1000])
    load_dataset("cifar10", "train", root=tmp_path, download=True, mirrors=[mirror], checksums={CIFAR: md5(blob)})
    assert server.requests == [("/good/" + CIFAR, "bytes=1000-")]
    assert os.listdir(folder) == [CIFAR] and (folder / CIFAR).read_bytes() == blob


def test_a_server_that_ignores_ranges_sends_the_whole_file_again(server, cifar_file, tmp_path):
    blob, _ = cifar_file
    mirror = serve(server, {CIFAR: blob})
    server.honour_ranges = False
    folder = tmp_path / "cifar10"
    folder.mkdir()
    (folder / (CIFAR + ".part")).write_bytes(blob[:1000])
    load_dataset("cifar10", "train", root=tmp_path, download=True, mirrors=[mirror], checksums={CIFAR: md5(blob)})
    assert (folder / CIFAR).read_bytes() == blob


def test_a_stale_part_file_that_spoils_the_checksum_is_downloaded_again(server, cifar_file, tmp_path):
    blob, _ = cifar_file
    mirror = serve(server, {CIFAR: blob})
    folder = tmp_path / "cifar10"
    folder.mkdir()
    (folder / (CIFAR + ".part")).write_bytes(b"x" * 1000)   # not the start of this file
    load_dataset("cifar10", "train", root=tmp_path, download=True, mirrors=[mirror], checksums={CIFAR: md5(blob)})
    assert server.requests == [("/good/" + CIFAR, "bytes=1000-"), ("/good/" + CIFAR, None)]
    assert (folder / CIFAR).read_bytes() == blob


def test_no_mirror_answers_one_error_lists_every_url_and_what_to_put_where(server, tmp_path):
    refused, dead = closed_port_url(), server.url + "/dead/"
    with pytest.raises(DownloadError) as caught:
        load_dataset("mnist", "train", root=tmp_path, download=True, mirrors=[refused, dead])
    assert not isinstance(caught.value, ChecksumError)
    message = str(caught.value)
    for url in (refused + "train-images-idx3-ubyte.gz", dead + "train-images-idx3-ubyte.gz"):
        assert url in message
    assert "connection refused" in message and "HTTP 404" in message
    assert ", ".join(MNIST_NAMES) in message   # every file of the dataset, to add by hand
    assert f"put them into {tmp_path / 'mnist'}" in message
    assert os.listdir(tmp_path / "mnist") == []


def test_missing_files_without_download_say_what_to_do_and_touch_no_network(server, tmp_path):
    with pytest.raises(MissingDataError) as caught:
        load_dataset("cifar10", "train", root=tmp_path, mirrors=[server.url + "/good/"])
    message = str(caught.value)
    assert CIFAR in message and str(tmp_path / "cifar10") in message and "download=True" in message
    assert server.requests == []


def test_a_damaged_cached_file_is_refused_and_downloaded_again_when_allowed(server, cifar_file, tmp_path):
    blob, _ = cifar_file
    mirror = serve(server, {CIFAR: blob})
    folder = tmp_path / "cifar10"
    folder.mkdir()
    (folder / CIFAR).write_bytes(blob[:-10])
    with pytest.raises(ChecksumError, match=re.escape(md5(blob))):
        load_dataset("cifar10", "test", root=tmp_path, checksums={CIFAR: md5(blob)})
    load_dataset("cifar10", "test", root=tmp_path, download=True, mirrors=[mirror], checksums={CIFAR: md5(blob)})
    assert (folder / CIFAR).read_bytes() == blob


def test_progress_bar_only_when_asked_or_on_a_terminal(server, cifar_file, tmp_path, capsys):
    pytest.importorskip("tqdm")
    blob, _ = cifar_file
    mirror = serve(server, {CIFAR: blob})
    load_dataset("cifar10", "test", root=tmp_path / "a", download=True, mirrors=[mirror], checksums={CIFAR: md5(blob)})
    quiet = capsys.readouterr().err        # captured stderr is not a terminal: no bar
    assert "downloading " + mirror + CIFAR in quiet and "%|" not in quiet
    load_dataset("cifar10", "test", root=tmp_path / "b", download=True, mirrors=[mirror], checksums={CIFAR: md5(blob)},
                 progress=True)
    assert "%|" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ CIFAR-10

def test_cifar10_binary_records_parse_to_chw_images_in_batch_order(cifar_file, tmp_path):
    blob, batches = cifar_file
    path = tmp_path / CIFAR
    path.write_bytes(blob)
    images, labels = read_cifar10_archive(path, "train")
    raw = np.concatenate([batches[f"data_batch_{i}.bin"][0] for i in range(1, 6)])
    assert images.shape == (10, 3, 32, 32) and images.dtype == np.float32
    np.testing.assert_array_equal(images, raw.astype(np.float32) / 255)
    assert np.array_equal(labels, np.concatenate([batches[f"data_batch_{i}.bin"][1] for i in range(1, 6)]))
    test_images, test_labels = read_cifar10_archive(path, "test")
    assert test_images.shape == (3, 3, 32, 32) and np.array_equal(test_labels, batches["test_batch.bin"][1])


def test_cifar10_record_layout_is_label_then_red_green_blue_planes():
    record = np.zeros(3073, dtype=np.uint8)
    record[0] = 7
    record[1 + 1024 * 2 + 32 * 5 + 9] = 200   # blue plane, row 5, column 9
    images, labels = parse_cifar10_batch(np.concatenate([record, record]).tobytes())
    assert labels.tolist() == [7, 7] and images.shape == (2, 3, 32, 32)
    assert images[1, 2, 5, 9] == 200 and int(images.sum()) == 400


@pytest.mark.parametrize("size", [0, 3072, 3074, 2 * 3073 - 1])
def test_cifar10_batch_that_is_not_whole_records_is_refused(size):
    with pytest.raises(DataError, match=f"{size:,} bytes is not a whole number of 3,073-byte records"):
        parse_cifar10_batch(bytes(size), "data_batch_1.bin")


def test_cifar10_label_outside_0_to_9_is_refused():
    record = np.zeros(3073, dtype=np.uint8)
    record[0] = 57
    with pytest.raises(DataError, match="record 0 has label 57"):
        parse_cifar10_batch(record.tobytes())


def test_cifar10_archive_without_a_batch_or_damaged_is_refused(tmp_path):
    path = tmp_path / CIFAR
    write_cifar10_archive(path, {"test_batch.bin": (np.zeros((1, 3, 32, 32), np.uint8), np.zeros(1, int))})
    with pytest.raises(DataError, match="lacks cifar-10-batches-bin/data_batch_1.bin"):
        read_cifar10_archive(path, "train")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match="damaged archive"):
        read_cifar10_archive(path, "test")


# ------------------------------------------------------------------------------------------------ API

def test_digits_come_bundled_as_a_stratified_split():
    x_train, y_train = load_dataset("digits", "train")
    x_test, y_test = load_dataset("digits", "test")
    assert x_train.shape[1:] == (1, 8, 8) and len(x_train) + len(x_test) == 1797 and len(x_test) == 359
    assert set(y_test.tolist()) == set(range(10)) and y_train.dtype == np.int64


def test_default_root_and_its_environment_override(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYGRAD_CNN_DATA", str(tmp_path / "elsewhere"))
    assert default_root() == tmp_path / "elsewhere"
    monkeypatch.delenv("TINYGRAD_CNN_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_root() == tmp_path / ".cache" / "tinygrad_cnn" / "datasets"


@pytest.mark.parametrize("kwargs,message", [
    (dict(name="imagenet"), "unknown dataset 'imagenet'; choose one of digits, mnist, fashion-mnist, cifar10"),
    (dict(name="mnist", split="validation"), "split must be 'train' or 'test', got 'validation'"),
    (dict(name="mnist", checksums={"train-images-idx3-ubyte.gz": "abc"}), "neither an md5"),
    (dict(name="mnist", mirrors=[]), "mirrors must be a non-empty list"),
])
def test_bad_arguments_are_named(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_dataset(root=tmp_path, **kwargs)


def test_built_in_table_has_a_published_digest_and_a_mirror_for_every_file():
    for info in datasets_module.DATASET_INFO.values():
        for split in ("train", "test"):
            for name in info.files[split]:
                assert re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{64}", info.checksums[name]), name
        assert info.mirrors and all(m.endswith("/") for m in info.mirrors)


def test_the_loader_code_never_touches_pickle():
    for path in (ROOT / "tinygrad_cnn" / "data").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "pickle" not in text.lower(), path.name


# ------------------------------------------------------------------------------------------------ CLI

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tinygrad_cnn", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_cli_mirror_with_the_built_in_checksums_refuses_generated_files_in_one_line(server, mnist_files, tmp_path):
    blobs, _ = mnist_files
    mirror = serve(server, blobs)
    done = run_cli("train", "--dataset", "mnist", "--download", "--mirror", mirror, "--data-dir", str(tmp_path),
                   "--no-progress", "--no-graph", "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1
    line = errors[0]
    assert "train-images-idx3-ubyte.gz" in line and "checksum mismatch" in line
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in line                      # the published md5
    assert md5(blobs["train-images-idx3-ubyte.gz"]) in line               # what the server sent
    assert mirror + "train-images-idx3-ubyte.gz" in line
    assert os.listdir(tmp_path / "mnist") == []
    assert not (tmp_path / "out").exists()


def test_cli_without_download_says_to_pass_it(tmp_path):
    done = run_cli("train", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--no-progress", "--no-graph",
                   "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "--download" in done.stderr and str(tmp_path / "cifar10") in done.stderr


@pytest.fixture
def trusted_generated_cifar(monkeypatch, cifar_file):
    """Make the built-in table trust the generated archive (as a private mirror's table would)."""
    blob, _ = cifar_file
    info = datasets_module.DATASET_INFO["cifar10"]
    monkeypatch.setitem(datasets_module.DATASET_INFO, "cifar10", replace(info, checksums={CIFAR: md5(blob)}))
    return blob


def test_cli_downloads_cifar10_and_trains_the_vgg_by_default(server, trusted_generated_cifar, tmp_path, capsys):
    from tinygrad_cnn.__main__ import main
    mirror = serve(server, {CIFAR: trusted_generated_cifar})
    assert main(["train", "--dataset", "cifar10", "--download", "--mirror", mirror, "--data-dir", str(tmp_path),
                 "--epochs", "1", "--batch-size", "4", "--no-progress", "--no-graph",
                 "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "done: vgg on cifar10" in captured.out
    assert f"downloading {mirror}{CIFAR}" in captured.err and "md5 verified" in captured.err
    assert server.paths_requested() == ["/good/" + CIFAR]   # downloaded once for both splits


@pytest.mark.parametrize("model,message", [
    ("lenet", "--model lenet expects 28×28 images but dataset cifar10 has 32×32; use --model mlp or vgg"),
    ("cnn", "--model cnn expects 8×8 images but dataset cifar10 has 32×32; use --model mlp or vgg"),
])
def test_cli_model_that_does_not_fit_cifar10_is_one_line(server, trusted_generated_cifar, tmp_path, capsys,
                                                          model, message):
    from tinygrad_cnn.__main__ import main
    mirror = serve(server, {CIFAR: trusted_generated_cifar})
    assert main(["train", "--dataset", "cifar10", "--model", model, "--download", "--mirror", mirror,
                 "--data-dir", str(tmp_path), "--no-progress", "--no-graph", "--out", str(tmp_path / "out")]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert errors == [f"error: {message}"]


def test_vgg_on_one_channel_images_is_refused_naming_the_channels():
    from tinygrad_cnn.train import TrainConfig, TrainError, make_model
    with pytest.raises(TrainError, match="--model vgg expects images with 3 channels but dataset mnist has 1"):
        make_model(TrainConfig(dataset="mnist", model="vgg"), (1, 32, 32))


def test_a_model_with_fewer_outputs_than_the_data_has_classes_is_refused():
    from tinygrad_cnn.models import lenet5
    from tinygrad_cnn.train import TrainConfig, TrainError, check_model_fits
    x, y = np.zeros((4, 1, 28, 28), np.float32), np.array([0, 3, 11, 2])
    with pytest.raises(TrainError, match=r"--model lenet has 10 outputs per image but dataset mnist has 12 "
                                         r"classes \(labels 0\.\.11\)"):
        check_model_fits(TrainConfig(dataset="mnist", model="lenet"), lenet5(), x, y)
    check_model_fits(TrainConfig(dataset="mnist", model="lenet"), lenet5(num_classes=12), x, y)  # fits

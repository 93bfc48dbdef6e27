"""The training command: it learns, resumes to the same result, and refuses bad input in one line."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_cnn import train as training
from tinygrad_cnn.__main__ import main
from tinygrad_cnn.data import write_idx
from tinygrad_cnn.nn import read_npz
from tinygrad_cnn.train import TrainConfig, TrainError, train


def quick(tmp_path, **overrides):
    options = dict(epochs=2, batch_size=64, out=str(tmp_path / "run"), progress=False, graph=False)
    options.update(overrides)
    return TrainConfig(**options)


def test_training_learns_and_writes_checkpoint_and_plot(tmp_path):
    model, history = train(quick(tmp_path, epochs=3))
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.test_accuracy[-1] > 0.6
    assert os.path.exists(tmp_path / "run" / "checkpoint.npz")
    assert os.path.exists(tmp_path / "run" / "training.png")


def test_resume_continues_to_the_same_weights_as_an_uninterrupted_run(tmp_path):
    full_model, full_history = train(quick(tmp_path / "a", epochs=4, optimizer="adam"))
    # the same 4-epoch run killed after its second checkpoint, then resumed
    _stop_after_checkpoints(quick(tmp_path / "b", epochs=4, optimizer="adam"), 2)
    resumed_model, resumed_history = train(quick(tmp_path / "b", epochs=4, optimizer="adam",
                                                 resume=str(tmp_path / "b" / "run" / "checkpoint.npz")))
    for (name, a), (_, b) in zip(full_model.state_dict().items(), resumed_model.state_dict().items()):
        assert np.array_equal(a, b), name
    assert resumed_history.test_loss == full_history.test_loss


def _stop_after_checkpoints(config, stop_after):
    """Run ``config`` but stop (as if killed) right after its ``stop_after``-th checkpoint."""
    calls = {"n": 0}
    original = training.save_checkpoint

    def save_then_maybe_stop(*args, **kwargs):
        original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == stop_after:
            raise KeyboardInterrupt
    training.save_checkpoint = save_then_maybe_stop
    try:
        with pytest.raises(KeyboardInterrupt):
            train(config)
    finally:
        training.save_checkpoint = original


def test_a_crash_while_saving_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    config = quick(tmp_path, epochs=1)
    train(config)
    path = tmp_path / "run" / "checkpoint.npz"
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError):
        train(quick(tmp_path, epochs=2, resume=str(path)))
    assert path.read_bytes() == before
    assert [f for f in os.listdir(tmp_path / "run") if f.endswith(".tmp")] == []
    assert "model/conv1.weight" in read_npz(path)


def test_resume_from_a_checkpoint_of_another_model_is_refused(tmp_path):
    train(quick(tmp_path, epochs=1))
    with pytest.raises(TrainError, match=r"model: checkpoint 'cnn', now 'mlp'"):
        train(quick(tmp_path, epochs=2, model="mlp", resume=str(tmp_path / "run" / "checkpoint.npz")))


def test_model_that_does_not_fit_the_images_is_refused():
    with pytest.raises(TrainError, match=r"--model lenet expects 28×28 images but dataset digits has 8×8"):
        train(TrainConfig(model="lenet", progress=False, graph=False))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tinygrad_cnn", *args], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(__file__)), timeout=120)


@pytest.mark.parametrize("args,culprit", [
    (["--optimizer", "lbfgs"], "--optimizer: invalid choice: 'lbfgs'"),
    (["--epochs", "0"], "--epochs: must be a positive integer, got 0"),
    (["--lr", "-1"], "--lr: must be a positive number, got -1.0"),
    (["--dataset", "mnist"], "--data-dir"),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], "/nonexistent/mnist"),
    (["--resume", "/nonexistent/ckpt.npz"], "no checkpoint file at '/nonexistent/ckpt.npz'"),
])
def test_cli_bad_input_gives_one_line_and_nonzero_exit(args, culprit, tmp_path):
    done = run_cli("train", "--no-progress", "--no-graph", "--out", str(tmp_path), *args)
    assert done.returncode != 0
    assert culprit in done.stderr
    assert "Traceback" not in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.startswith("error")]) == 1


def test_cli_truncated_idx_file_is_one_line_error(tmp_path):
    data = tmp_path / "mnist"
    data.mkdir()
    for prefix, n in (("train", 6), ("t10k", 4)):
        write_idx(data / f"{prefix}-images-idx3-ubyte", np.zeros((n, 28, 28), dtype=np.uint8))
        write_idx(data / f"{prefix}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8))
    images = data / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    done = run_cli("train", "--dataset", "mnist", "--data-dir", str(data), "--model", "mlp",
                   "--no-progress", "--no-graph", "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "train-images-idx3-ubyte" in done.stderr and "bytes" in done.stderr


def test_cli_trains_on_a_small_mnist_folder(tmp_path):
    data = tmp_path / "mnist"
    data.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 64), ("t10k", 16)):
        write_idx(data / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        write_idx(data / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    assert main(["train", "--dataset", "mnist", "--data-dir", str(data), "--model", "lenet", "--epochs", "1",
                 "--no-progress", "--no-graph", "--out", str(tmp_path / "out")]) == 0
    assert os.path.exists(tmp_path / "out" / "checkpoint.npz")


def test_killing_the_process_mid_save_never_leaves_a_corrupt_checkpoint(tmp_path):
    import signal
    import time
    path = tmp_path / "checkpoint.npz"
    writer = (
        "import sys, numpy as np\n"
        "from tinygrad_cnn.fileio import save_npz\n"
        "arrays = {f'w{i}': np.full((256, 256), i, dtype=np.float32) for i in range(40)}\n"
        "save_npz(sys.argv[1], arrays)\n"
        "print('first', flush=True)\n"
        "while True:\n"
        "    save_npz(sys.argv[1], arrays)\n")
    proc = subprocess.Popen([sys.executable, "-c", writer, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "first"
        time.sleep(0.3)          # somewhere inside one of the many saves that follow
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    arrays = read_npz(path)      # the last complete checkpoint: never half a file
    assert len(arrays) == 40 and float(arrays["w39"][0, 0]) == 39.0


def test_drawing_the_graph_leaves_the_trained_model_as_checkpointed(tmp_path):
    model, _ = train(quick(tmp_path, epochs=1, graph=True))   # the graph's forward pass runs batch norm
    saved = read_npz(tmp_path / "run" / "checkpoint.npz")
    for key, value in model.state_dict().items():
        assert np.array_equal(saved[f"model/{key}"], value), key


# ---------------------------------------------------------------- the first hour with the command line

def run_cli_in(cwd, *args, path=None):
    """The command line from another folder (and optionally another PATH), as a new user runs it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "tinygrad_cnn", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("command", ["train", "graph"])
def test_negative_seed_is_a_one_line_usage_error(command, tmp_path):
    done = run_cli(command, "--seed", "-1", "--out", str(tmp_path / ("run" if command == "train" else "g.svg")))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--seed: must be an integer >= 0, got -1" in done.stderr
    assert not os.path.exists(tmp_path / "run")
    with pytest.raises(TrainError, match="--seed: must be an integer >= 0"):
        train(quick(tmp_path, seed=-1))


@pytest.mark.parametrize("command,default", [("train", "--epochs EPOCHS passes over the training set (default: 12)"),
                                             ("graph", "(default: lenet)")])
def test_help_shows_the_defaults(command, default):
    done = run_cli(command, "--help")
    assert done.returncode == 0 and default in " ".join(done.stdout.split())
    if command == "train":
        assert "(default: momentum)" in done.stdout and "--no-progress" in done.stdout
        assert "(default: None)" not in done.stdout and "(default: False)" not in done.stdout


def test_idx_labels_beyond_ten_give_as_many_classes(tmp_path):
    data = tmp_path / "emnist"
    data.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 96), ("t10k", 32)):   # EMNIST letters: labels 1..26
        write_idx(data / f"{prefix}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        write_idx(data / f"{prefix}-labels-idx1-ubyte", rng.integers(1, 27, n).astype(np.uint8))
    out = tmp_path / "out"
    done = run_cli("train", "--dataset", "mnist", "--data-dir", str(data), "--model", "mlp", "--epochs", "1",
                   "--no-graph", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert read_npz(out / "checkpoint.npz")["model/5.weight"].shape[0] == 27


def test_a_run_that_fails_before_its_first_epoch_leaves_no_folder(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise TrainError("epoch 1: the loss became nan; lower --lr")
    monkeypatch.setattr(training, "evaluate", crash)
    with pytest.raises(TrainError):
        train(quick(tmp_path))
    assert not os.path.exists(tmp_path / "run")


def test_a_log_file_gets_one_line_per_epoch_and_the_main_job_needs_no_dot(tmp_path):
    out = tmp_path / "run"
    # not a terminal (output captured), and no Graphviz program on PATH: the bundled one draws graph.svg
    done = run_cli_in(tmp_path, "train", "--epochs", "2", "--out", str(out), path="")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines[:2]] == ["1/2", "2/2"] and len(lines) == 3
    assert "2 epochs in" in lines[-1] and "it/s" not in done.stderr and "%|" not in done.stderr
    assert len(lines) + len(done.stderr.splitlines()) < 60
    assert (out / "training.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (out / "graph.svg").read_bytes()


def test_one_epoch_is_singular(tmp_path, capsys):
    train(quick(tmp_path, epochs=1))
    assert "1 epoch in" in capsys.readouterr().out


def test_importing_leaves_malloc_alone_and_the_train_command_tunes_it(tmp_path):
    probe = ("import sys, tinygrad_cnn, tinygrad_cnn.allocator as a\n"
             "print(a.tuned)\n"
             "from tinygrad_cnn.__main__ import main\n"
             "main(['train', '--epochs', '1', '--no-graph', '--out', sys.argv[1]])\n"
             "print(a.tuned)\n")
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "run")], capture_output=True, text=True,
                          timeout=300, env={k: v for k, v in os.environ.items() if k != "TINYGRAD_CNN_MALLOC_TUNING"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "False"
    assert lines[-1] == ("True" if sys.platform.startswith("linux") else "False")


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_bars_only_on_a_terminal(terminal, monkeypatch):
    import io

    class Stream(io.StringIO):
        def isatty(self):
            return terminal
    monkeypatch.setattr(sys, "stderr", Stream())
    bar = training._progress(range(3), 3, "epoch 1/1", enabled=True)
    assert bool(bar.disable) is (not terminal)   # disable=None stays falsy on a terminal
    assert list(bar) == [0, 1, 2]
    assert training._progress(range(3), 3, "epoch 1/1", enabled=False) == range(3)   # --no-progress

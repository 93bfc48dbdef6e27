"""The README's first example runs as written, and its command lines name real options."""
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_first_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(python_blocks()[0], "README.md (first example)", "exec"), namespace)
    assert namespace["x"].grad is not None and namespace["w"].grad.shape == (2, 2)


def test_keras_example_runs_on_small_data():
    np = pytest.importorskip("numpy")
    code = python_blocks()[1]
    namespace = {"x": np.random.default_rng(0).random((8, 64, 64, 3), dtype=np.float32),
                 "y": np.arange(8) % 10}
    exec(compile(code.replace("epochs=3", "epochs=1"), "README.md (Keras example)", "exec"), namespace)
    assert len(namespace["history"].history["loss"]) == 1


@pytest.mark.parametrize("option", ["--dataset", "--data-dir", "--model", "--epochs", "--batch-size", "--optimizer",
                                    "--lr", "--weight-decay", "--schedule", "--seed", "--out", "--resume"])
def test_documented_train_options_exist(option, capsys):
    from tinygrad_cnn.__main__ import main
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    assert option in README and option in capsys.readouterr().out

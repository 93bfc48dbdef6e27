"""The `graph` command and the gallery: real models drawn after backward, rendered by the system's
dot or, without it, the Graphviz that pip installed; the same picture every time it is regenerated."""
import os
import subprocess
import sys

import pytest

from tinygrad_cnn import graphviz_backend
from tinygrad_cnn.__main__ import main
from tinygrad_cnn.gallery import model_and_batch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
can_render = pytest.mark.skipif(graphviz_backend.renderer_name() is None, reason="no Graphviz (dot or bundled)")


def run_cli_in(cwd, *args, path=None):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "tinygrad_cnn", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@can_render
@pytest.mark.parametrize("model", ["lenet", "cnn", "mlp"])
def test_graph_command_writes_an_svg_with_parameter_names(model, tmp_path):
    out = tmp_path / f"{model}.svg"
    assert main(["graph", "--model", model, "--out", str(out)]) == 0
    svg = out.read_text()
    assert "<svg" in svg and "‖g‖" in svg
    first_layer = {"lenet": "conv1", "cnn": "conv1", "mlp": "1 · Linear"}[model]
    assert first_layer in svg


@pytest.mark.skipif(sys.version_info < (3, 10), reason="pygraphviz's wheels need Python >= 3.10")
def test_graph_command_without_dot_creates_the_folder_from_any_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_cli_in(elsewhere, "graph", "--model", "mlp", "--out", "newdir/sub/mlp.svg", path="")
    assert done.returncode == 0, done.stderr
    assert b"<svg" in (elsewhere / "newdir" / "sub" / "mlp.svg").read_bytes()
    done = run_cli_in(elsewhere, "graph", "--model", "mlp", path="")   # default viz/mlp.svg, here
    assert done.returncode == 0 and (elsewhere / "viz" / "mlp.svg").exists(), done.stderr


@pytest.mark.parametrize("out", ["x.jpg", "graph"])
def test_graph_command_unknown_picture_format_is_one_line_error(out, tmp_path):
    done = run_cli_in(tmp_path, "graph", "--model", "mlp", "--out", out)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"'{out}': pictures are written as .svg, .png, .pdf, .dot" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not os.listdir(tmp_path)


@can_render
@pytest.mark.parametrize("expand", [[], ["--expand"]], ids=["gallery digits_cnn.svg", "every op"])
def test_regenerating_a_gallery_picture_gives_the_same_bytes(tmp_path, expand):
    # two processes: tensors get other id()s, so any id-based name would change the file
    for name in ("a.svg", "b.svg"):
        done = run_cli_in(tmp_path, "graph", "--model", "cnn", *expand, "--out", name)
        assert done.returncode == 0, done.stderr
    first, second = (tmp_path / "a.svg").read_bytes(), (tmp_path / "b.svg").read_bytes()
    assert b"<svg" in first and first == second


def test_graph_command_unknown_model_is_one_line_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["graph", "--model", "resnet"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'resnet'" in capsys.readouterr().err


def test_model_and_batch_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        model_and_batch("resnet")


def test_graph_of_the_vgg_names_its_layers_as_torchvision_does():
    import tinygrad_cnn.functional as F
    from tinygrad_cnn import Tensor
    from tinygrad_cnn.viz import draw_graph
    model, images, labels = model_and_batch("vgg")
    loss = F.cross_entropy(model(Tensor(images)), labels)
    loss.backward()
    source = draw_graph(loss, params=model, collapse=True).source   # DOT text: no `dot` needed
    for layer in ("features.0 · Conv2d", "features.1 · BatchNorm2d", "classifier.2 · Linear"):
        assert layer in source

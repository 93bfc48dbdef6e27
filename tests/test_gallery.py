"""The `graph` command and the gallery: real models drawn after backward, rendered with dot."""
import shutil

import pytest

from tinygrad_cnn.__main__ import main
from tinygrad_cnn.gallery import model_and_batch

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


@needs_dot
@pytest.mark.parametrize("model", ["lenet", "cnn", "mlp"])
def test_graph_command_writes_an_svg_with_parameter_names(model, tmp_path):
    out = tmp_path / f"{model}.svg"
    assert main(["graph", "--model", model, "--out", str(out)]) == 0
    svg = out.read_text()
    assert "<svg" in svg and "‖g‖" in svg
    first_layer = {"lenet": "conv1", "cnn": "conv1", "mlp": "1 · Linear"}[model]
    assert first_layer in svg


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

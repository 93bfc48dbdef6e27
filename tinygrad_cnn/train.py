"""Training a classifier end to end: data, model, optimizer, epochs, checkpoints, pictures.

``python -m tinygrad_cnn train ...`` is a thin shell over ``train(TrainConfig(...))``. A run is
reproducible from its seed alone: the model's initial weights, each epoch's batch order and each
epoch's dropout draws derive from (seed, epoch), so ``--resume`` from the checkpoint of epoch k
continues to the same weights as an uninterrupted run.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import functional as F
from . import optim
from .autograd import no_grad
from .data import DataLoader, load_digits, train_test_split
from .data.datasets import load_train_and_test
from .errors import CheckpointError, TinygradError
from .fileio import atomic_write, save_npz
from .models import build_model
from .nn import Module, read_npz
from .tensor import Tensor, from_numpy, manual_seed

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")
MODELS = ("cnn", "lenet", "mlp", "vgg")
OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam")
SCHEDULES = ("cosine", "step", "none")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "adagrad": 0.05, "rmsprop": 0.002, "adam": 0.003}
MODEL_IMAGE_SIZE = {"cnn": (8, 8), "lenet": (28, 28), "vgg": (32, 32), "mlp": None}  # None: any size (flattened)
MODEL_CHANNELS = {"cnn": 1, "lenet": 1, "vgg": 3, "mlp": None}
DEFAULT_MODEL = {"digits": "cnn", "mnist": "lenet", "fashion-mnist": "lenet", "cifar10": "vgg"}  # when --model is not given
CHECKPOINT_VERSION = 1


def _batch(x: np.ndarray) -> Tensor:
    """A batch as a float32 input tensor, sharing the loader's array when it is float32 already
    (inputs are only read, so the copy ``Tensor()`` makes would buy nothing)."""
    return from_numpy(np.asarray(x, dtype=np.float32))


class TrainError(TinygradError, ValueError):
    """A training run that cannot start: bad option values, data, or a checkpoint that does not fit."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (the command line's options)."""

    dataset: str = "digits"
    data_dir: Optional[str] = None      # the dataset cache root (None: $TINYGRAD_CNN_DATA or ~/.cache/...)
    model: Optional[str] = None         # None: the dataset's model (DEFAULT_MODEL)
    epochs: int = 12
    batch_size: int = 32
    optimizer: str = "momentum"
    lr: Optional[float] = None          # None: a default that works for the optimizer
    weight_decay: float = 0.0
    schedule: str = "cosine"            # the learning rate per epoch: cosine annealing, step decay, constant
    seed: int = 0
    out: str = "runs/latest"
    resume: Optional[str] = None
    test_fraction: float = 0.2          # the held-out share of the digits (MNIST has its own test set)
    progress: bool = True               # tqdm progress bars (shown only when stderr is a terminal)
    graph: bool = True                  # write the model's graph with its gradient flow (SVG)
    download: bool = False              # fetch missing dataset files (verified) into the cache
    mirrors: Optional[List[str]] = None  # base URLs to download from instead of the built-in list

    def validate(self) -> None:
        """Raise TrainError naming the option and the valid values (and pick the dataset's model if none)."""
        if self.model is None and self.dataset in DEFAULT_MODEL:
            self.model = DEFAULT_MODEL[self.dataset]
        for name, value, valid in (("dataset", self.dataset, DATASETS), ("model", self.model, MODELS),
                                   ("optimizer", self.optimizer, OPTIMIZERS),
                                   ("schedule", self.schedule, SCHEDULES)):
            if value not in valid:
                raise TrainError(f"--{name}: unknown value {value!r}; choose one of {', '.join(valid)}")
        for name, value in (("epochs", self.epochs), ("batch-size", self.batch_size)):
            if not isinstance(value, int) or value < 1:
                raise TrainError(f"--{name}: must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise TrainError(f"--seed: must be an integer >= 0, got {self.seed!r}")
        if os.path.exists(self.out) and not os.path.isdir(self.out):
            raise TrainError(f"--out: {self.out!r} is a file, not a folder")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainError(f"--lr: must be a positive number, got {self.lr!r}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise TrainError(f"--weight-decay: must be >= 0, got {self.weight_decay!r}")

    @property
    def learning_rate(self) -> float:
        """The learning rate in use: the given one or the optimizer's default."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]


@dataclass
class History:
    """Per-epoch metrics of a run."""

    train_loss: List[float] = field(default_factory=list)
    train_accuracy: List[float] = field(default_factory=list)
    test_loss: List[float] = field(default_factory=list)
    test_accuracy: List[float] = field(default_factory=list)
    seconds: List[float] = field(default_factory=list)


def load_dataset(config: TrainConfig) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) as float32 images (N, C, H, W) and int64 labels."""
    if config.dataset == "digits":
        images, labels = load_digits()
        x_train, x_test, y_train, y_test = train_test_split(images, labels, config.test_fraction, seed=config.seed)
        return x_train, y_train, x_test, y_test
    return load_train_and_test(config.dataset, config.data_dir, download=config.download, mirrors=config.mirrors,
                               progress=None if config.progress else False)


def count_classes(*label_sets: np.ndarray) -> int:
    """The number of classes the labels use (largest label + 1; EMNIST-style sets have more than 10)."""
    labels = np.concatenate([np.asarray(y).reshape(-1) for y in label_sets])
    if labels.size == 0:
        raise TrainError("the dataset has no labels")
    if labels.min() < 0:
        raise TrainError(f"the dataset has a negative label ({int(labels.min())}); labels must be 0, 1, 2, ...")
    return max(int(labels.max()) + 1, 2)


def make_model(config: TrainConfig, image_shape: Tuple[int, ...], num_classes: int = 10) -> Module:
    """The model named by the config for ``num_classes`` classes, checked against the images it will see."""
    wanted, channels = MODEL_IMAGE_SIZE[config.model], MODEL_CHANNELS[config.model]
    fits = [m for m in MODELS if MODEL_IMAGE_SIZE[m] in (None, tuple(image_shape[-2:]))
            and MODEL_CHANNELS[m] in (None, image_shape[0])]
    if wanted is not None and tuple(image_shape[-2:]) != wanted:
        raise TrainError(f"--model {config.model} expects {wanted[0]}×{wanted[1]} images but dataset "
                         f"{config.dataset} has {image_shape[-2]}×{image_shape[-1]}; use --model "
                         f"{' or '.join(fits)}")
    if channels is not None and image_shape[0] != channels:
        raise TrainError(f"--model {config.model} expects images with {channels} channel{'s' * (channels > 1)} "
                         f"but dataset {config.dataset} has {image_shape[0]}; use --model {' or '.join(fits)}")
    generator = np.random.default_rng(config.seed)
    if config.model == "mlp":
        return build_model("mlp", in_features=int(np.prod(image_shape)), hidden=(128, 64), classes=num_classes,
                           generator=generator)
    return build_model(config.model, num_classes=num_classes, generator=generator)


def check_model_fits(config: TrainConfig, model: Module, x: np.ndarray, y: np.ndarray) -> None:
    """Raise TrainError when ``model`` cannot classify the data: its input shape or its number of outputs
    (fewer than the classes in ``y``) does not fit. One forward pass of two images, without a graph."""
    was_training = model.training
    model.eval()  # batch norm must not learn from this probe
    try:
        with no_grad():
            outputs = model(Tensor(x[:2])).shape
    except ValueError as err:  # ShapeError and friends: the layers do not fit these images
        raise TrainError(f"--model {config.model} does not fit dataset {config.dataset}'s images of shape "
                         f"{tuple(x.shape[1:])}: {err}") from None
    finally:
        model.train(was_training)
    classes = int(y.max()) + 1 if len(y) else 0
    if len(outputs) != 2:
        raise TrainError(f"--model {config.model} gives outputs of shape {tuple(outputs)} for a batch of "
                         "images; a classifier gives (N, number of classes)")
    if outputs[1] < classes:
        raise TrainError(f"--model {config.model} has {outputs[1]} outputs per image but dataset "
                         f"{config.dataset} has {classes} classes (labels 0..{classes - 1})")


def make_optimizer(config: TrainConfig, model: Module) -> optim.Optimizer:
    """The optimizer named by the config."""
    lr, wd, params = config.learning_rate, config.weight_decay, model.parameters()
    return {
        "sgd": lambda: optim.SGD(params, lr=lr, weight_decay=wd),
        "momentum": lambda: optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd),
        "adagrad": lambda: optim.Adagrad(params, lr=lr, weight_decay=wd),
        "rmsprop": lambda: optim.RMSprop(params, lr=lr, weight_decay=wd),
        "adam": lambda: optim.Adam(params, lr=lr, weight_decay=wd),
    }[config.optimizer]()


def make_schedule(config: TrainConfig, optimizer: optim.Optimizer) -> Optional[optim.LRScheduler]:
    """The per-epoch learning-rate schedule named by the config (None for a constant rate)."""
    if config.schedule == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "step":
        return optim.StepLR(optimizer, step_size=max(config.epochs // 3, 1), gamma=0.3)
    return None


def evaluate(model: Module, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> Tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` on (x, y), in eval mode without a graph."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    with no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(_batch(x[start:start + batch_size]))
            labels = y[start:start + batch_size]
            total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += int((logits.data.argmax(axis=1) == labels).sum())
    model.train(was_training)
    return total_loss / len(x), correct / len(x)


# ---------------------------------------------------------------- checkpoints

def save_checkpoint(path: str, model: Module, optimizer: optim.Optimizer, epoch: int, history: History,
                    config: TrainConfig, schedule: Optional[optim.LRScheduler] = None) -> None:
    """Model, optimizer and progress in one ``.npz`` (no pickle), written atomically."""
    arrays: Dict[str, Any] = {f"model/{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"optimizer/{k}": v for k, v in optim.flatten_state(optimizer.state_dict()).items()})
    meta = {"version": CHECKPOINT_VERSION, "epoch": epoch, "config": asdict(config), "history": asdict(history),
            "schedule": schedule.state_dict() if schedule is not None else None}
    arrays["meta"] = np.array(json.dumps(meta))
    save_npz(path, arrays)


def load_checkpoint(path: str, model: Module, optimizer: optim.Optimizer, config: TrainConfig,
                    schedule: Optional[optim.LRScheduler] = None) -> Tuple[int, History]:
    """Restore model and optimizer from ``path``; returns (epochs done, history). Refuses a checkpoint
    of another model, dataset or format version, naming what differs."""
    if not os.path.isfile(path):
        raise TrainError(f"--resume: no checkpoint file at {path!r}")
    arrays = read_npz(path)
    if "meta" not in arrays:
        raise TrainError(f"--resume: {path!r} is not a training checkpoint (no 'meta' entry); "
                         "it may be a bare model state_dict")
    meta = json.loads(str(arrays["meta"]))
    if meta.get("version") != CHECKPOINT_VERSION:
        raise TrainError(f"--resume: {path!r} has checkpoint version {meta.get('version')}, "
                         f"this program reads version {CHECKPOINT_VERSION}")
    saved = meta["config"]
    differ = [f"{key}: checkpoint {saved.get(key)!r}, now {getattr(config, key)!r}"
              for key in ("model", "dataset", "optimizer", "schedule")
              if saved.get(key) != getattr(config, key)]
    if differ:
        raise TrainError(f"--resume: {path!r} was written by another run ({'; '.join(differ)})")
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    try:
        model.load_state_dict(model_state)
    except CheckpointError as err:
        raise TrainError(f"--resume: {path!r} does not fit the model: {err}") from None
    optimizer.load_state_dict(optim.unflatten_state(
        {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}))
    if schedule is not None and meta.get("schedule"):
        schedule.load_state_dict(meta["schedule"])
    return int(meta["epoch"]), History(**meta["history"])


# ---------------------------------------------------------------- pictures

def plot_history(history: History, path: str) -> Optional[str]:
    """Loss and accuracy per epoch as a PNG (needs matplotlib); returns the path or None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot: matplotlib is not installed, so training.png was not written (pip install matplotlib)",
              file=sys.stderr)
        return None
    epochs = np.arange(1, len(history.train_loss) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_loss.plot(epochs, history.train_loss, "o-", label="train")
    ax_loss.plot(epochs, history.test_loss, "s-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.plot(epochs, np.array(history.train_accuracy) * 100, "o-", label="train")
    ax_acc.plot(epochs, np.array(history.test_accuracy) * 100, "s-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return path


def draw_model_graph(model: Module, x: np.ndarray, y: np.ndarray, path: str) -> Optional[str]:
    """One batch's graph with its gradient flow, collapsed per layer, as SVG; None if it cannot be drawn."""
    try:
        from .viz import draw_graph, render
    except ImportError:
        return None
    trained = model.state_dict()  # the forward pass below updates batch norm's running statistics
    loss = F.cross_entropy(model(Tensor(x)), y)
    loss.backward()
    model.zero_grad()
    model.load_state_dict(trained)
    try:
        render(draw_graph(loss, params=model, group_modules=True, collapse=True,
                          title="gradient flow, one batch"), path)
    except RuntimeError as err:  # no Graphviz at all, or too slow: the error says what to do
        print(f"graph: {err}", file=sys.stderr)
        return None
    return path


# ---------------------------------------------------------------- the loop

def _progress(iterable: Any, total: int, description: str, enabled: bool) -> Any:
    if enabled:
        try:
            from tqdm import tqdm
            # disable=None: a bar only on a terminal; in a log file the one line per epoch stays alone
            return tqdm(iterable, total=total, desc=description, leave=False, dynamic_ncols=True, disable=None)
        except ImportError:
            pass
    return iterable


def train(config: TrainConfig) -> Tuple[Module, History]:
    """Train as ``config`` says; writes checkpoint, plot and graph into ``config.out``."""
    config.validate()
    x_train, y_train, x_test, y_test = load_dataset(config)
    model = make_model(config, x_train.shape[1:], count_classes(y_train, y_test))
    check_model_fits(config, model, x_train, y_train)
    optimizer = make_optimizer(config, model)
    schedule = make_schedule(config, optimizer)
    history, start_epoch = History(), 0
    if config.resume:
        start_epoch, history = load_checkpoint(config.resume, model, optimizer, config, schedule)
    checkpoint_path = os.path.join(config.out, "checkpoint.npz")
    loader = DataLoader(x_train, y_train, batch_size=config.batch_size, shuffle=True, seed=config.seed)
    began = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        epoch_began = time.perf_counter()
        loader.set_epoch(epoch)
        manual_seed(config.seed * 100_003 + epoch)  # dropout draws depend on (seed, epoch) only
        model.train()
        seen, loss_sum, correct = 0, 0.0, 0
        bar = _progress(loader, len(loader), f"epoch {epoch + 1}/{config.epochs}", config.progress)
        for xb, yb in bar:
            optimizer.zero_grad()
            logits = model(_batch(xb))
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            optimizer.step()
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise TrainError(f"epoch {epoch + 1}: the loss became {loss_value}; lower --lr "
                                 f"(now {config.learning_rate})")
            seen += len(yb)
            loss_sum += loss_value * len(yb)
            correct += int((logits.data.argmax(axis=1) == yb).sum())
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss_value:.4f}")
        test_loss, test_accuracy = evaluate(model, x_test, y_test)
        history.train_loss.append(loss_sum / seen)
        history.train_accuracy.append(correct / seen)
        history.test_loss.append(test_loss)
        history.test_accuracy.append(test_accuracy)
        history.seconds.append(time.perf_counter() - epoch_began)
        if schedule is not None:
            schedule.step()
        os.makedirs(config.out, exist_ok=True)  # only now: a run failing before its first epoch leaves no folder
        save_checkpoint(checkpoint_path, model, optimizer, epoch + 1, history, config, schedule)
        print(f"epoch {epoch + 1:>2}/{config.epochs}  train loss {history.train_loss[-1]:.4f}  "
              f"acc {history.train_accuracy[-1]:6.2%}  |  test loss {test_loss:.4f}  acc {test_accuracy:6.2%}  "
              f"({history.seconds[-1]:.1f} s)", flush=True)
    elapsed = time.perf_counter() - began
    os.makedirs(config.out, exist_ok=True)
    outputs = [f"checkpoint {checkpoint_path}"]
    if history.train_loss:
        plot = plot_history(history, os.path.join(config.out, "training.png"))
        if plot:
            outputs.append(f"plot {plot}")
    if config.graph:
        graph = draw_model_graph(model, x_train[:config.batch_size], y_train[:config.batch_size],
                                 os.path.join(config.out, "graph.svg"))
        if graph:
            outputs.append(f"graph {graph}")
    final = f"test accuracy {history.test_accuracy[-1]:.2%}" if history.test_accuracy else "no epochs run"
    epochs = f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}"
    print(f"done: {config.model} on {config.dataset}, {epochs} in {elapsed:.1f} s, {final}; "
          + ", ".join(outputs), flush=True)
    return model, history

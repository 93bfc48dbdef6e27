"""The command line: ``python -m tinygrad_cnn train ...``, ``graph ...``, ``player ...`` and ``gallery``.

Bad input ends with a one-line error and exit status 2 (usage) or 1 (data, checkpoint), never a
traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, NoReturn, Optional

from .errors import TinygradError


def seed_type(text: str) -> int:
    """--seed: an integer >= 0 (numpy's generators take no negative seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


PICTURE_EXTENSIONS = (".svg", ".png", ".pdf", ".dot")


def picture_path(text: str) -> str:
    """--out of `graph`: a .svg, .png, .pdf or .dot path."""
    if os.path.splitext(text)[1].lower() not in PICTURE_EXTENSIONS:
        raise argparse.ArgumentTypeError(f"{text!r}: pictures are written as {', '.join(PICTURE_EXTENSIONS)} "
                                         "(.png and .pdf also work without a system Graphviz)")
    return text


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each option's default, except where there is none (None)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:  # no default, or an off switch
            return action.help or ""
        return super()._get_help_string(action) or ""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (``error: ...``) and exit status 2; --help is unchanged."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        print(f"error: {message} (see: {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _train_parser(sub: "argparse._SubParsersAction") -> None:
    from .train import DATASETS, DEFAULT_LR, MODELS, OPTIMIZERS, SCHEDULES, TrainConfig

    p = sub.add_parser("train", help="train a classifier on real handwritten digits",
                       formatter_class=DefaultsFormatter,
                       description="Train a CNN, LeNet-5, VGG or MLP; writes a checkpoint per epoch, a loss/accuracy "
                                   "plot and the model's graph with its gradient flow into --out. A progress bar "
                                   "shows only on a terminal; a log file gets one line per epoch.")
    d = TrainConfig()
    p.add_argument("--dataset", choices=DATASETS, default=d.dataset,
                   help="digits (bundled 8×8), mnist, fashion-mnist (1×28×28) or cifar10 (3×32×32)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="dataset cache, one folder per dataset (default: $TINYGRAD_CNN_DATA or "
                        "~/.cache/tinygrad_cnn/datasets); a folder that itself holds MNIST-format IDX files "
                        "is read as it is")
    p.add_argument("--download", action="store_true",
                   help="download missing dataset files (checksums verified) into the cache")
    p.add_argument("--mirror", dest="mirrors", action="extend", nargs="+", default=None, metavar="URL",
                   help="base URL to download from instead of the built-in mirrors (repeatable, tried in order)")
    p.add_argument("--model", choices=MODELS, default=d.model,
                   help="the network to train (default: cnn for digits, lenet for mnist/fashion-mnist, vgg for cifar10)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per optimizer step")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="momentum is SGD with momentum 0.9")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's own: "
                   + ", ".join(f"{name} {lr:g}" for name, lr in DEFAULT_LR.items()) + ")")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="L2 penalty")
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule, help="learning rate per epoch")
    p.add_argument("--seed", type=seed_type, default=d.seed, help="weights, batch order and dropout follow from it")
    p.add_argument("--out", default=d.out, help="folder for checkpoint.npz, training.png, graph.svg")
    p.add_argument("--resume", default=None, metavar="CKPT", help="continue from a checkpoint.npz")
    p.add_argument("--no-progress", action="store_true", help="no progress bars, even on a terminal")
    p.add_argument("--no-graph", action="store_true", help="do not draw the model's graph")


def _graph_parser(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("graph", help="draw a model's graph with the gradient flow of one batch",
                       formatter_class=DefaultsFormatter,
                       description="Draw a model's computation graph after one forward/backward pass.")
    p.add_argument("--model", choices=("lenet", "cnn", "mlp", "vgg", "keras"), default="lenet", help="the model to draw")
    p.add_argument("--out", type=picture_path, default=None,
                   help="output file (.svg, .png, .pdf or .dot; its folder is created); default viz/<model>.svg")
    p.add_argument("--expand", action="store_true", help="draw every op instead of one node per layer")
    p.add_argument("--seed", type=seed_type, default=0, help="the model's weights and the batch follow from it")


def _player_parser(sub: "argparse._SubParsersAction") -> None:
    from .player import player_models

    p = sub.add_parser("player", help="write an HTML page that steps through backward on a model",
                       description="Write one self-contained HTML page that replays backward on one batch, step "
                                   "by step: the graph, each step's op, rule and gradient. Opens in any browser, offline.")
    p.add_argument("--model", choices=player_models(), default="lenet")
    p.add_argument("--out", default=None, help="the .html file to write (its folder is created); "
                                               "default viz/<model>_player.html")
    p.add_argument("--seed", type=int, default=0)


def _gallery_parser(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("gallery", help="regenerate the committed pictures in viz/",
                       formatter_class=DefaultsFormatter)
    p.add_argument("--out", default="viz", help="folder for the pictures")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    parser = OneLineParser(prog="python -m tinygrad_cnn",
                                     description="tinygrad_cnn: train CNNs and draw backprop.")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _graph_parser(sub)
    _player_parser(sub)
    _gallery_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            from .allocator import tune_allocator
            from .train import TrainConfig, train

            tune_allocator()  # this process only trains: keep freed array memory for reuse (allocator.py)

            config = TrainConfig(dataset=args.dataset, data_dir=args.data_dir, model=args.model,
                                 epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
                                 lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule, seed=args.seed, out=args.out,
                                 resume=args.resume, progress=not args.no_progress, graph=not args.no_graph,
                                 download=args.download, mirrors=args.mirrors)
            train(config)
        elif args.command == "graph":
            from .gallery import draw_model

            out = args.out or os.path.join("viz", f"{args.model}.svg")
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
            path = draw_model(args.model, out, collapse=not args.expand, seed=args.seed)
            print(f"graph: {path}")
        elif args.command == "player":
            from .player import model_player

            path = model_player(args.model, args.out or os.path.join("viz", f"{args.model}_player.html"),
                                seed=args.seed)
            print(f"player: {path}")
        elif args.command == "gallery":
            from .gallery import make_gallery

            for path in make_gallery(args.out):
                print(f"wrote {path}")
    except (TinygradError, FileNotFoundError, RuntimeError) as err:
        message = str(err).strip().splitlines()
        print(f"error: {'; '.join(line.strip() for line in message) or type(err).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

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


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (``error: ...``) and exit status 2; --help is unchanged."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        print(f"error: {message} (see: {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _train_parser(sub: "argparse._SubParsersAction") -> None:
    from .train import DATASETS, MODELS, OPTIMIZERS, SCHEDULES, TrainConfig

    p = sub.add_parser("train", help="train a classifier on real handwritten digits",
                       description="Train a CNN, LeNet-5 or MLP; writes a checkpoint per epoch, a loss/accuracy "
                                   "plot and the model's graph with its gradient flow into --out.")
    d = TrainConfig()
    p.add_argument("--dataset", choices=DATASETS, default=d.dataset, help="digits (bundled 8×8) or mnist (IDX files)")
    p.add_argument("--data-dir", default=None, help="folder with the MNIST-format IDX files (for --dataset mnist)")
    p.add_argument("--model", choices=MODELS, default=d.model)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default depends on the optimizer)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="L2 penalty")
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule, help="learning rate per epoch")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", default=d.out, help="folder for checkpoint.npz, training.png, graph.svg")
    p.add_argument("--resume", default=None, metavar="CKPT", help="continue from a checkpoint.npz")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-graph", action="store_true", help="do not draw the model's graph")


def _graph_parser(sub: "argparse._SubParsersAction") -> None:
    p = sub.add_parser("graph", help="draw a model's graph with the gradient flow of one batch",
                       description="Draw a model's computation graph after one forward/backward pass.")
    p.add_argument("--model", choices=("lenet", "cnn", "mlp", "keras"), default="lenet")
    p.add_argument("--out", default=None, help="output file (.svg, .png or .pdf); default viz/<model>.svg")
    p.add_argument("--expand", action="store_true", help="draw every op instead of one node per layer")
    p.add_argument("--seed", type=int, default=0)


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
    p = sub.add_parser("gallery", help="regenerate the committed pictures in viz/")
    p.add_argument("--out", default="viz")


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
            from .train import TrainConfig, train

            config = TrainConfig(dataset=args.dataset, data_dir=args.data_dir, model=args.model,
                                 epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
                                 lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule, seed=args.seed, out=args.out,
                                 resume=args.resume, progress=not args.no_progress, graph=not args.no_graph)
            train(config)
        elif args.command == "graph":
            from .gallery import draw_model

            path = draw_model(args.model, args.out or os.path.join("viz", f"{args.model}.svg"),
                              collapse=not args.expand, seed=args.seed)
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

"""The offline sub-commands ``data prepare``, ``train`` and ``export-onnx``, read from the family registry.

Nothing here names a family: datasets, configs, training and export all come
from :mod:`export.families`. Importing this module needs no torch (nor numpy):
``cmt-bridge`` adds these commands through the trainer plugin
(export/plugin.py), and each says in one line how to install the ``train``
extra when it is missing. ``python -m export`` runs the same commands.
"""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Callable

from bridge.errors import BridgeError

from . import families as reg

log = logging.getLogger(__name__)

TRAIN_EXTRA = "pip install 'torch==2.13.0' -e '.[train]' (see README)"
TRAIN_MODULES = ("torch", "onnx", "onnxscript", "music21", "matplotlib")


def _need_torch(what: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise BridgeError(f"{what} needs the train extra (torch is missing): {TRAIN_EXTRA}") from None


def guard_missing(func: Callable, what: str) -> Callable:
    """Turn a missing train-extra module inside a command into one clear line."""
    def run(args) -> int:
        try:
            return func(args)
        except ModuleNotFoundError as e:
            if (e.name or "").split(".")[0] in TRAIN_MODULES:
                raise BridgeError(f"{what} needs the train extra ({e.name} is missing): {TRAIN_EXTRA}") from None
            raise
    return run


def _dataset_help() -> str:
    try:
        return "; ".join(f"{name}: {d.doc}" for name, d in reg.datasets().items())
    except Exception as e:  # a broken family must not take the CLI down
        log.warning("model families: %s", e)
        return "see the model families in export/"


def add_commands(sub: argparse._SubParsersAction, guard: bool = True) -> None:
    """Add ``data``, ``train``, ``average`` and ``export-onnx`` to ``sub``; ``guard`` makes a missing extra one line."""
    def wrap(func: Callable, name: str) -> Callable:
        return guard_missing(func, f"cmt-bridge {name}") if guard else func

    d = sub.add_parser("data", help="build cached training sets from data we can ship",
                       description="Build cached, split-by-piece training sets.",
                       epilog="examples:\n  cmt-bridge data prepare folk            (music21's folk tunes -> data/folk/)\n"
                              "  cmt-bridge data prepare midi ~/midi --out data/mine   (your own MIDI files)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    p = dsub.add_parser("prepare", help="parse, cache and split a dataset (resumable)")
    p.add_argument("dataset", help=_dataset_help())
    p.add_argument("source", nargs="?", type=Path, default=None,
                   help="for datasets built from your files (midi): the folder to read")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default $CMT_BRIDGE_DATA/<dataset>, i.e. data/<dataset>)")
    p.add_argument("--jobs", type=int, default=2, help="parallel parser processes (default 2)")
    p.add_argument("--limit", type=int, default=None,
                   help="only the first N files (quick trials; transcription: N training chunks)")
    p.set_defaults(func=wrap(_cmd_prepare, "data"))

    t = sub.add_parser("train", help="train a named config from the registry (needs the train extra)",
                       description="Train a frozen, named config. Checkpoints, loss.png and a log go to --run-dir.",
                       epilog="examples:\n  cmt-bridge train musicvae-mel2bar --run-dir runs/musicvae-mel2bar\n"
                              "  cmt-bridge train musicvae-mel2bar --run-dir runs/musicvae-mel2bar --resume\n"
                              "  cmt-bridge train musicvae-mel2bar --data data/mine --init onnx_models/musicvae-mel2bar "
                              "--run-dir runs/mine   (fine-tune on your own MIDI)\n"
                              "  torchrun --nproc_per_node 2 -m export train musicvae-tiny --run-dir runs/ddp\n"
                              "configs: see `cmt-bridge train --list`",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("config", nargs="?", help="config name")
    t.add_argument("--list", action="store_true", help="list the registered configs of every model family")
    t.add_argument("--run-dir", type=Path, default=None, help="default runs/<config>")
    t.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir")
    t.add_argument("--steps", type=int, default=None, help="override the config's number of steps")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--data", type=Path, default=None,
                   help="train on this prepared folder (cmt-bridge data prepare midi DIR --out FOLDER) instead of "
                        "the config's dataset")
    t.add_argument("--init", type=Path, default=None,
                   help="start from this model folder (e.g. onnx_models/musicvae-mel2bar): fine-tuning; "
                        "transcription: train a shipped model on (--steps is the total, going on from its step)")
    t.set_defaults(func=wrap(_cmd_train, "train"))

    a = sub.add_parser("average", help="the mean of checkpoints' weights: one model from runs trained on from one start",
                       description="Average the weights of two or more checkpoints of one architecture (a 'model "
                                   "soup': runs trained on from one start land in one basin, and their mean is often "
                                   "better than each). Writes a checkpoint that export-onnx takes; the sources and "
                                   "their steps are recorded in it and in the exported manifest.",
                       epilog="examples:\n  cmt-bridge average runs/transcription-eq/model.pt "
                              "runs/transcription-eq-violin/model.pt \\\n"
                              "      --weights 2,1 -o runs/transcription-eq-soup/model.pt --config transcription-eq-soup\n"
                              "  cmt-bridge export-onnx transcription-eq-soup\n"
                              "  cmt-bridge average onnx_models/transcription runs/mine/model.pt -o runs/mine-soup/model.pt"
                              "\n      (a shipped model and your run trained on from it: keeps what the shipped one "
                              "hears)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("checkpoints", nargs="+", type=Path,
                   help="two or more checkpoints (.pt) of one architecture, or model folders (a shipped model: "
                        "onnx_models/transcription) where the family reads them")
    a.add_argument("-o", "--out", type=Path, required=True, help="the averaged checkpoint to write")
    a.add_argument("--config", default=None,
                   help="store the result as this registered config (its name is what export-onnx takes); "
                        "default: the last checkpoint's")
    a.add_argument("--weights", default=None, metavar="W,W...",
                   help="one weight per checkpoint, e.g. 2,1 (normalised; default equal)")
    a.add_argument("--force", action="store_true", help="overwrite --out")
    a.set_defaults(func=wrap(_cmd_average, "average"))

    e = sub.add_parser("export-onnx", help="export a trained checkpoint to validated ONNX + manifest",
                       description="Export, embed metadata, reload through the host's loader, compare with torch on "
                                   "held-out inputs (fails above the tolerance), time it, write manifest.json "
                                   "(export/pipeline.py).",
                       epilog="examples:\n  cmt-bridge export-onnx musicvae-mel2bar            "
                              "(runs/musicvae-mel2bar -> onnx_models/musicvae-mel2bar)\n"
                              "  cmt-bridge export-onnx runs/x/ckpt-001000.pt -o /tmp/m\n"
                              "  cmt-bridge export-onnx --all                        (every shipped model)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("source", nargs="?", help="config name (its run dir) or a checkpoint path")
    e.add_argument("-o", "--out", type=Path, default=None, help="default onnx_models/<config's model name>")
    e.add_argument("--run-dir", type=Path, default=None)
    e.add_argument("--all", action="store_true", help="re-export every shipped model from its checkpoint")
    e.add_argument("--tolerance", type=float, default=1e-4)
    e.set_defaults(func=wrap(_cmd_export, "export-onnx"))


def _command(verb: str) -> str:
    """The command line as typed from ``verb`` on (recorded in checkpoints and manifests); "" if not run so."""
    if verb not in sys.argv:
        return ""
    prog = "torchrun ... -m export" if "WORLD_SIZE" in os.environ else "cmt-bridge"
    return " ".join([prog] + [shlex.quote(a) for a in sys.argv[sys.argv.index(verb):]])


def _cmd_prepare(args) -> int:
    table = reg.datasets()
    if args.dataset not in table:
        raise BridgeError(f"unknown dataset {args.dataset!r} (have: {', '.join(table)})")
    d = table[args.dataset]
    extra = {}
    if d.source:
        if args.source is None:
            raise BridgeError(f"data prepare {d.name} needs {d.source}: cmt-bridge data prepare {d.name} DIR")
        extra["source"] = args.source
    elif args.source is not None:
        raise BridgeError(f"data prepare {d.name} takes no folder (got {args.source})")
    print(reg.resolve(d.prepare)(args.out, jobs=args.jobs, limit=args.limit, **extra))
    return 0


def _cmd_train(args) -> int:
    _need_torch("cmt-bridge train")
    if args.list or not args.config:
        for name, (fam, cfg) in reg.configs().items():
            print(f"{name:24s} {fam.name:14s} {getattr(cfg, 'doc', '')}")
        return 0
    fam, cfg = reg.config(args.config)
    run_dir = args.run_dir or Path("runs") / args.config
    extra = {k: v for k, v in (("data", args.data), ("init", args.init)) if v is not None}
    fam.run_train(cfg, run_dir, resume=args.resume, steps=args.steps, seed=args.seed, threads=args.threads,
                  command=_command("train"), **extra)
    return 0


def _cmd_average(args) -> int:
    _need_torch("cmt-bridge average")
    from .checkpoints import average, read_checkpoint

    if args.out.exists() and not args.force:
        raise BridgeError(f"{args.out} exists: give --force to overwrite it")
    owners = {p: reg.family_of_checkpoint(p) for p in args.checkpoints if p.is_file() or p.is_dir()}
    families = {fam.name for fam in owners.values()}
    for p, fam in owners.items():
        if p.is_dir() and fam.from_folder is None:
            raise BridgeError(f"{p}: {fam.name} reads no model folder for average; give its checkpoint (.pt)")
    cfg = None
    if args.config:
        fam, cfg = reg.config(args.config)
        families.add(fam.name)
    if len(families) > 1:
        raise BridgeError(f"average: the checkpoints and --config belong to different families ({', '.join(sorted(families))})")
    weights = None
    if args.weights is not None:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise BridgeError(f"--weights: numbers separated by commas, e.g. 2,1; got {args.weights!r}") from None

    def read(path: Path) -> object:   # a model folder through its family, a checkpoint file as it is
        return reg.resolve(owners[path].from_folder)(path) if path.is_dir() else read_checkpoint(path, weights_only=True)

    print(average(args.checkpoints, args.out, config=cfg, command=_command("average"), weights=weights, read=read))
    return 0


def _cmd_export(args) -> int:
    _need_torch("cmt-bridge export-onnx")
    if args.all:
        for fam in reg.families().values():
            for name in fam.shipped:
                print(f"exported {fam.run_export(name, tolerance=args.tolerance, command='cmt-bridge export-onnx --all')}")
        return 0
    if not args.source:
        raise BridgeError("export-onnx needs a config name or a checkpoint path (or --all)")
    if args.source in reg.configs():
        fam = reg.config(args.source)[0]
    elif Path(args.source).is_file():
        fam = reg.family_of_checkpoint(Path(args.source))
    elif args.source.endswith(".pt"):
        raise BridgeError(f"{args.source}: no such checkpoint")
    else:
        fam = reg.config(args.source)[0]  # raises: unknown config, with the list
    out = fam.run_export(args.source, out=args.out, run_dir=args.run_dir, tolerance=args.tolerance,
                         command=_command("export-onnx") or f"cmt-bridge export-onnx {args.source}")
    print(f"exported {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description="cmt-bridge offline trainer")
    add_commands(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.func(args)
    except BridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

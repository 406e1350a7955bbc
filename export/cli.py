"""The offline sub-commands: ``data prepare``, ``train``, ``export-onnx``.

Importing this module needs no torch: the commands import it when they run, and
say how to install the ``train`` extra when it is missing.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bridge.errors import BridgeError

TRAIN_EXTRA = "this command needs the train extra: pip install 'torch==2.13.0' -e '.[train]' (see README)"


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise BridgeError(TRAIN_EXTRA) from None


def add_commands(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("data", help="build cached training sets from data we can ship",
                       description="Build cached, split-by-piece training sets.",
                       epilog="example: cmt-bridge data prepare folk   (music21's folk tunes -> data/folk/)")
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    p = dsub.add_parser("prepare", help="parse, cache and split a dataset (resumable)")
    p.add_argument("dataset", choices=["folk", "transcription", "cmt", "tagger"],
                   help="folk: monophonic 2-bar melodies from music21's ABC tunes; transcription: those melodies "
                        "rendered with FluidSynth for 5 instruments, paired with frame labels (needs folk first); "
                        "cmt: music21's multi-part scores as compound-word tokens (data/cmt/); "
                        "tagger: 3 s clips rendered with FluidSynth, labels from their MIDI (data/tagger/)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default $CMT_BRIDGE_DATA/<dataset>, i.e. data/<dataset>)")
    p.add_argument("--jobs", type=int, default=2, help="parallel parser processes (default 2)")
    p.add_argument("--limit", type=int, default=None, help="only the first N files (quick trials)")
    p.set_defaults(func=_cmd_prepare)

    t = sub.add_parser("train", help="train a named config from the registry (needs the train extra)",
                       description="Train a frozen, named config. Checkpoints, loss.png and a log go to --run-dir.",
                       epilog="examples:\n  cmt-bridge train musicvae-mel2bar --run-dir runs/musicvae-mel2bar\n"
                              "  cmt-bridge train musicvae-mel2bar --run-dir runs/musicvae-mel2bar --resume\n"
                              "  torchrun --nproc_per_node 2 -m export train musicvae-tiny --run-dir runs/ddp\n"
                              "configs: see `cmt-bridge train --list`",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("config", nargs="?", help="config name")
    t.add_argument("--list", action="store_true", help="list the registered configs")
    t.add_argument("--run-dir", type=Path, default=None, help="default runs/<config>")
    t.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir")
    t.add_argument("--steps", type=int, default=None, help="override the config's number of steps")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("export-onnx", help="export a trained checkpoint to validated ONNX + manifest",
                       description="Export, embed metadata, reload in onnxruntime, compare with torch on held-out "
                                   "inputs (fails above the tolerance), time both, write manifest.json.",
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
    e.set_defaults(func=_cmd_export)


TRANSCRIPTION_DATA = Path("data/transcription")


def _transcription_configs() -> dict:
    from .transcription_model import CONFIGS  # imports torch: only called after _need_torch()

    return CONFIGS


def _tagger_configs() -> dict:
    from .tagger import CONFIGS  # plain dataclasses: no torch import

    return CONFIGS


def _cmt_configs() -> dict:
    from .cmt_train import CONFIGS  # imports torch: only called after _need_torch()

    return CONFIGS


def _cmd_prepare(args) -> int:
    from . import folk_data

    if args.dataset == "tagger":
        from .tagger import prepare as prepare_tagger

        idx = prepare_tagger(args.out, jobs=args.jobs, limit=args.limit)
        print(f"tagger: pieces {idx['pieces']}, shards {idx['shards']} x {idx['shard_size']} clips per soundfont")
        return 0
    if args.dataset == "cmt":
        from .cmt_data import prepare as prepare_cmt

        idx = prepare_cmt(args.out, jobs=args.jobs, limit=args.limit)
        print(f"cmt: {idx['pieces']} pieces, tokens train {idx['train_tokens']} / valid {idx['valid_tokens']} / "
              f"test {idx['test_tokens']}, {len(idx['skipped'])} skipped (reasons in index.json)")
        return 0

    if args.dataset == "transcription":
        from .transcription_data import prepare

        idx = prepare(folk_data.data_root() / "folk", args.out or TRANSCRIPTION_DATA)
        print(f"transcription: {len(idx['chunks'])} chunks rendered")
        return 0

    idx = folk_data.prepare(args.out, jobs=args.jobs, limit=args.limit)
    print(f"{idx['dataset']}: {idx['tunes']} tunes, windows train {idx['train_windows']} / "
          f"valid {idx['valid_windows']} / test {idx['test_windows']}, {len(idx['unparseable'])} files skipped")
    return 0


def _cmd_train(args) -> int:
    _need_torch()
    from . import configs, train

    if args.list or not args.config:
        for name, cfg in configs.REGISTRY.items():
            print(f"{name:24s} {cfg.doc}")
        for name in _transcription_configs():
            print(f"{name:24s} cross-modal audio <-> symbol VAE (see docs/transcription.md)")
        for name, cfg in _cmt_configs().items():
            print(f"{name:24s} {cfg.doc}")
        for name, cfg in _tagger_configs().items():
            print(f"{name:24s} {cfg.doc}")
        return 0
    if args.config in _tagger_configs():
        from dataclasses import replace

        from .tagger import train as train_tagger

        cfg = _tagger_configs()[args.config]
        if args.seed is not None:
            cfg = replace(cfg, seed=args.seed)
        run_dir = args.run_dir or Path("runs") / args.config
        train_tagger(args.config, run_dir, resume=args.resume, steps=args.steps, threads=args.threads,
                     command=f"cmt-bridge train {args.config} --run-dir {run_dir}", cfg=cfg)
        return 0
    if args.config in _cmt_configs():
        from .cmt_train import train as train_cmt

        cfg = _cmt_configs()[args.config]
        if args.seed is not None:
            from dataclasses import replace

            cfg = replace(cfg, seed=args.seed)
        train_cmt(cfg, args.run_dir or Path("runs") / args.config, resume=args.resume, steps=args.steps,
                  threads=args.threads)
        return 0
    if args.config in _transcription_configs():
        from .transcription_train import train as train_transcription

        run_dir = args.run_dir or Path("runs") / args.config
        train_transcription(args.config, TRANSCRIPTION_DATA, run_dir, args.threads or 1, args.steps, args.resume,
                            command=f"cmt-bridge train {args.config} --run-dir {run_dir}")
        return 0
    import os
    import shlex
    import sys

    cfg = configs.get(args.config)
    prog = "torchrun ... -m export" if "WORLD_SIZE" in os.environ else "cmt-bridge"
    command = " ".join([prog] + [shlex.quote(a) for a in sys.argv[sys.argv.index("train"):]]) \
        if "train" in sys.argv else None
    train.train(cfg, args.run_dir or Path("runs") / cfg.name, resume=args.resume, steps=args.steps,
                seed=args.seed, threads=args.threads, command=command)
    return 0


def _cmd_export(args) -> int:
    _need_torch()
    from . import onnx_export

    if args.all:
        for out in onnx_export.export_all(tolerance=args.tolerance):
            print(f"exported {out}")
        from .transcription_export import export as export_transcription

        out = export_transcription(Path("runs") / "transcription" / "model.pt", None, TRANSCRIPTION_DATA,
                                   args.tolerance, command="cmt-bridge export-onnx --all")
        print(f"exported {out}")
        print(f"exported {_export_cmt('cmt', None, None, args.tolerance, 'cmt-bridge export-onnx --all')}")
        return 0
    if not args.source:
        raise BridgeError("export-onnx needs a config name or a checkpoint path (or --all)")
    if args.source in _transcription_configs():
        from .transcription_export import export as export_transcription

        run_dir = args.run_dir or Path("runs") / args.source
        out = export_transcription(run_dir / "model.pt", args.out, TRANSCRIPTION_DATA, args.tolerance,
                                   command=f"cmt-bridge export-onnx {args.source}")
        print(f"exported {out}")
        return 0
    if args.source in _tagger_configs() or args.source == "tagger" or _is_tagger_checkpoint(args.source):
        from .tagger import export as export_tagger

        out = export_tagger(args.source, args.out, run_dir=args.run_dir, tolerance=args.tolerance,
                            command=f"cmt-bridge export-onnx {args.source}")
        print(f"exported {out}")
        return 0
    if args.source in _cmt_configs() or _is_cmt_checkpoint(args.source):
        out = _export_cmt(args.source, args.run_dir, args.out, args.tolerance, f"cmt-bridge export-onnx {args.source}")
        print(f"exported {out}")
        return 0
    out = onnx_export.export(args.source, out=args.out, run_dir=args.run_dir, tolerance=args.tolerance)
    print(f"exported {out}")
    return 0


def _export_cmt(source: str, run_dir: Path | None, out: Path | None, tolerance: float, command: str) -> Path:
    """Export a CMT config's newest checkpoint (or a checkpoint path) to a model folder."""
    from .cmt_export import export as export_cmt
    from .cmt_train import latest_checkpoint

    ckpt = Path(source)
    if source in _cmt_configs():
        run_dir = run_dir or Path("runs") / source
        ckpt = latest_checkpoint(run_dir)
        if ckpt is None:
            raise BridgeError(f"no checkpoint in {run_dir}: train it first (cmt-bridge train {source})")
    return export_cmt(ckpt, out, tolerance=tolerance, command=command)


def _is_tagger_checkpoint(source: str) -> bool:
    """A checkpoint path written by the tagger trainer or its CLMR probe."""
    p = Path(source)
    if not p.is_file() or p.suffix != ".pt":
        return False
    import torch

    state = torch.load(p, weights_only=False, map_location="cpu")
    return str(state.get("config", {}).get("name", "")).startswith("tagger")


def _is_cmt_checkpoint(source: str) -> bool:
    """A checkpoint path written by the CMT trainer (its config has CMT's fields)."""
    p = Path(source)
    if not p.is_file():
        return False
    import torch

    state = torch.load(p, weights_only=False, map_location="cpu")
    return "n_heads" in state.get("config", {})


def main(argv: list[str] | None = None) -> int:
    import logging
    import sys

    parser = argparse.ArgumentParser(prog="python -m export", description="cmt-bridge offline trainer")
    sub = parser.add_subparsers(dest="cmd", required=True)
    add_commands(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.func(args)
    except BridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

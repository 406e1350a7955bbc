"""Where do notes get stuck after SIGKILL / a reload storm: the host, or the receiver? (a script, not a test)

Each trial: a private JACK server (dummy driver), ``cmt-bridge run --play midime
--play cmt`` recording to a .mid, and TWO independent ``jack_midi_dump``
receivers on its port. After a few seconds of playing (``storm``: 200
``/cmt/reload`` in 2 s first) the host gets its signal (``kill``: SIGKILL to
the host process only, as a crash would; ``term``: SIGTERM). Then, per trial:

- notes left on at receiver A, at receiver B, and in the host's own recording;
- JACK xruns reported by the server during the trial.

Run it under the load it is about (other jobs on the 2 cores) and without: with
``jackd --no-realtime`` a client that misses a period loses that period's MIDI.

Reading: a note on in the recording is the host's logic; a note on at *both*
receivers but closed in the recording was lost between the output process and
JACK (the sender); a note on at *one* receiver only was lost by that receiver.

    python bench/stuck_notes.py --trials 20 --modes kill,storm     # -> bench/results/stuck_notes.json
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import mido  # noqa: E402

import peers  # noqa: E402
from fakeplugins.running import BridgeRun, note_pairs  # noqa: E402


def children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_gone(pids: list[int], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(Path(f"/proc/{p}").exists() and "zombie" not in _state(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "zombie"


def recording_notes(path: Path) -> tuple[int, int]:
    """(note-ons, notes left on) in the host's .mid recording ((-1, -1): no readable recording)."""
    try:
        mid = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError):
        return -1, -1
    open_notes: dict[tuple[int, int], int] = {}
    ons = 0
    for track in mid.tracks:
        for msg in track:
            if msg.type == "note_on" and msg.velocity > 0:
                ons += 1
                open_notes[(msg.channel, msg.note)] = open_notes.get((msg.channel, msg.note), 0) + 1
            elif msg.type in ("note_off", "note_on"):
                key = (msg.channel, msg.note)
                if open_notes.get(key):
                    open_notes[key] -= 1
    return ons, sum(open_notes.values())


def xruns(log: Path, since: int, sender: str) -> dict:
    """Periods missed during the trial, from jackd's log: by our output client, by receivers, by the driver."""
    try:
        text = log.read_text(errors="replace")[since:]
    except OSError:
        return {"sender": 0, "receivers": 0, "driver": 0}
    out = {"sender": 0, "receivers": 0, "driver": 0}
    for line in text.splitlines():
        if "was not finished" in line:
            out["sender" if f"client = {sender} " in line else "receivers"] += 1
        elif "XRun" in line:
            out["driver"] += 1
    return out


def trial(server: peers.JackServer, mode: str, rng: random.Random, source: Path | None = None) -> dict:
    log_at = len(server.log.read_text(errors="replace")) if server.log.exists() else 0
    env = dict(server.env, PYTHONPATH=str(source)) if source else server.env
    run = BridgeRun("--play", "midime", "--play", "cmt", "--tempo", "150", env=env, disable="transcription")
    a = b = None
    try:
        run.wait_ready(90)
        a, b = peers.MidiDump(server), peers.MidiDump(server)
        a.connect(run.port_name)
        b.connect(run.port_name)
        time.sleep(2.0 + 3.0 * rng.random())
        if mode == "storm":
            for _ in range(200):
                run.send("/cmt/reload")
                time.sleep(0.01)
            time.sleep(1.0 * rng.random())
        output = children(run.proc.pid)
        sig = signal.SIGKILL if mode == "kill" else signal.SIGTERM
        t0 = time.monotonic()
        run.proc.send_signal(sig)
        code = run.proc.wait(20)
        gone = wait_gone(output, 10)
        took = time.monotonic() - t0
        time.sleep(1.0)
        msgs_a, msgs_b = a.messages(), b.messages()
        a.close()
        b.close()
        pa, sa = note_pairs(msgs_a)
        pb, sb = note_pairs(msgs_b)
        sent, open_recording = recording_notes(run.record)
        return {"mode": mode, "exit": code, "seconds_to_exit": round(took, 3), "output_process_ended": gone,
                "notes_a": len(pa) + sum(sa.values()), "open_a": sum(sa.values()),
                "notes_b": len(pb) + sum(sb.values()), "open_b": sum(sb.values()),
                "notes_recording": sent, "open_recording": open_recording,
                "xruns": xruns(server.log, log_at, run.port_name.split(":")[0]),
                "terminate_called": "terminate called" in run.output}
    finally:
        for dump in (a, b):
            if dump is not None:
                dump.close()
        run.close()


def summarise(rows: list[dict], modes: list[str]) -> dict:
    summary = {}
    for mode in modes:
        mine = [r for r in rows if r["mode"] == mode]
        summary[mode] = {
            "trials": len(mine),
            "runs_with_open_notes_a": sum(r["open_a"] > 0 for r in mine),
            "runs_with_open_notes_b": sum(r["open_b"] > 0 for r in mine),
            "runs_open_at_both_receivers": sum(r["open_a"] > 0 and r["open_b"] > 0 for r in mine),
            "runs_open_at_one_receiver": sum((r["open_a"] > 0) != (r["open_b"] > 0) for r in mine),
            "runs_open_in_recording": sum(r["open_recording"] != 0 for r in mine),
            "runs_receivers_disagree_on_note_count": sum(r["notes_a"] != r["notes_b"] for r in mine),
            "runs_a_short_of_the_recording": sum(r.get("notes_recording", -1) > r["notes_a"] for r in mine),
            "runs_b_short_of_the_recording": sum(r.get("notes_recording", -1) > r["notes_b"] for r in mine),
            "runs_with_sender_xruns": sum(r["xruns"]["sender"] > 0 for r in mine),
            "runs_with_receiver_xruns": sum(r["xruns"]["receivers"] > 0 for r in mine),
            "max_seconds_to_exit": max((r["seconds_to_exit"] for r in mine), default=0),
            "unexpected_exit_codes": sum(r["exit"] != (-9 if mode == "kill" else 0) for r in mine),
            "terminate_called": sum(r["terminate_called"] for r in mine)}
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--modes", default="kill,storm,term")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "stuck_notes.json")
    ap.add_argument("--label", default="", help="stored with the results (e.g. the commit under test)")
    ap.add_argument("--source", type=Path, default=None,
                    help="run the host from another source tree, e.g. `git archive main | tar -x -C DIR`")
    args = ap.parse_args(argv)
    rng = random.Random(7)
    modes = args.modes.split(",")
    rows: list[dict] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with peers.JackServer(name=f"stuck{os.getpid()}") as server:
        for mode in modes:
            for _ in range(args.trials):
                rows.append(trial(server, mode, rng, args.source))
                print(json.dumps(rows[-1]), flush=True)
                args.out.write_text(json.dumps({"label": args.label, "summary": summarise(rows, modes),
                                                "trials": rows, "load_average": os.getloadavg()}, indent=1) + "\n")
    for mode, line in summarise(rows, modes).items():
        print(mode, json.dumps(line))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

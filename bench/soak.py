"""Soak: midime + cmt playing densely for minutes, under parameter changes and reloads; nothing lost, nothing leaks.

``cmt-bridge run --play midime --play cmt --tempo 180`` on a private JACK server
(dummy driver, realtime when permitted), two independent ``jack_midi_dump``
receivers (A and B: a message missing at both was lost on the sending side, at
one only by that receiver), and over OSC: ``--param-rate`` parameter changes a second (cmt density /
strength / temperature, midime temperature), a ``/cmt/reload`` every
``--reload-every`` seconds, a ``/cmt/status`` every 5 s (RSS of the host and its
output process read from /proc at the same moment). At the end SIGTERM, then:

- sent vs received: note-on / note-off messages in the host's own recording
  (every message the output process sent) against those each receiver got;
- notes left on at each receiver; periods each JACK client missed (jackd's log);
- RSS growth after the first minute (the baseline measured in the same run):
  ``(last - first_minute) / first_minute``;
- the longest silence at the receiver (nothing sounding, then a note-on), in
  bars: "the music stopped"; and the longest gap between note-ons, which also
  counts notes held through a bar (a long chord is not a stop).

    nice -n 5 python bench/soak.py --minutes 10      # -> bench/results/soak.json
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import mido  # noqa: E402
from pythonosc.osc_packet import OscPacket  # noqa: E402

import peers  # noqa: E402
from fakeplugins.running import BridgeRun, note_pairs  # noqa: E402
from stuck_notes import xruns  # noqa: E402

PARAMS = [("/cmt/cmt/density", lambda r: r.randint(5, 7)), ("/cmt/cmt/strength", lambda r: r.randint(2, 6)),
          ("/cmt/cmt/temperature", lambda r: round(r.uniform(0.8, 1.1), 3)),
          ("/cmt/midime/temperature", lambda r: round(r.uniform(0.3, 0.9), 3))]


def rss_mb(pid: int) -> float:
    """Resident MB of ``pid`` and its children (the output process)."""
    total = 0
    pids = [pid]
    try:
        pids += [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def longest_silence_s(msgs) -> float:
    """Longest time with no note sounding at the receiver before the next note-on (seconds)."""
    sounding: dict[tuple[int, int], int] = {}
    quiet_since, best = None, 0.0
    for m in msgs:
        if not (m.is_note_on or m.is_note_off):
            continue
        key = (m.channel, m.data[1])
        if m.is_note_on:
            if quiet_since is not None:
                best = max(best, m.time_s - quiet_since)
                quiet_since = None
            sounding[key] = sounding.get(key, 0) + 1
        elif sounding.get(key):
            sounding[key] -= 1
            if not sounding[key]:
                del sounding[key]
            if not sounding:
                quiet_since = m.time_s
    return best


def recorded_counts(path: Path) -> dict:
    mid = mido.MidiFile(str(path))
    on = off = 0
    for track in mid.tracks:
        for msg in track:
            if msg.type == "note_on" and msg.velocity > 0:
                on += 1
            elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
                off += 1
    return {"note_on": on, "note_off": off}


class StatusReader:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.setblocking(False)      # drain() must never hold up the sending loop
        self.port = self.sock.getsockname()[1]
        self.errors: list[list] = []

    def drain(self) -> dict | None:
        """Read what arrived; the last /cmt/status (parsed) if any."""
        status = None
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return status
            for m in OscPacket(data).messages:
                if m.message.address == "/cmt/status":
                    status = json.loads(m.message.params[0])
                elif m.message.address == "/cmt/error":
                    self.errors.append(list(m.message.params))


def soak(minutes: float, tempo: float, param_rate: float, reload_every: float, period: int) -> dict:
    rng = random.Random(11)
    server = peers.JackServer(name=f"soak{os.getpid()}", period=period, realtime=True)
    try:
        server.start()
    except RuntimeError:
        server = peers.JackServer(name=f"soak{os.getpid()}n", period=period, realtime=False).start()
    status_in = StatusReader()
    run = BridgeRun("--play", "midime", "--play", "cmt", "--tempo", str(tempo), "--set", "midime.channel=12",
                    "--set", "cmt.density=6", env=server.env, disable="", reply_port=status_in.port)
    samples, reloads_sent, params_sent = [], 0, 0
    dumps: list = []
    try:
        run.wait_ready(120)
        dumps = [peers.MidiDump(server), peers.MidiDump(server)]
        for dump in dumps:
            dump.connect(run.port_name)
        log_at = len(server.log.read_text(errors="replace"))
        start = time.monotonic()
        end = start + minutes * 60
        next_param, next_reload, next_status = start, start + reload_every, start + 5.0
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_param:
                address, value = rng.choice(PARAMS)
                run.send(address, value(rng))
                params_sent += 1
                next_param += 1.0 / param_rate
            if now >= next_reload:
                run.send("/cmt/reload")
                reloads_sent += 1
                next_reload += reload_every
            if now >= next_status:
                run.send("/cmt/status")
                next_status += 5.0
                rss = rss_mb(run.proc.pid)
                st = None
                for _ in range(20):          # the reply, within 0.2 s (parameter sends wait meanwhile)
                    time.sleep(0.01)
                    st = status_in.drain() or st
                    if st is not None:
                        break
                samples.append({"t": round(now - start, 2), "rss_mb": round(rss, 1),
                                "reloads": {k: v["reloads"] for k, v in (st or {}).get("generators", {}).items()},
                                "phrases": {k: v["phrases"] for k, v in (st or {}).get("generators", {}).items()},
                                "osc": (st or {}).get("osc"), "status_answered": st is not None})
                print(json.dumps(samples[-1]), flush=True)
            status_in.drain()
            time.sleep(max(0.0, min(next_param, next_reload, next_status, end) - time.monotonic()))
        t0 = time.monotonic()
        run.proc.send_signal(signal.SIGTERM)
        code = run.proc.wait(30)
        exit_s = time.monotonic() - t0
        time.sleep(1.0)
        for dump in dumps:
            dump.close()
        got = [dump.messages() for dump in dumps]
        sent = recorded_counts(run.record)        # before run.close() removes its folder
        missed = xruns(server.log, log_at, run.port_name.split(":")[0])
    finally:
        for dump in dumps:
            dump.close()
        run.close()                 # SIGTERM if still running (an interrupted soak), temp files removed
        server.stop()
    receivers = []
    for msgs in got:
        pairs, sounding = note_pairs(msgs)
        receivers.append({"note_on": sum(m.is_note_on for m in msgs), "note_off": sum(m.is_note_off for m in msgs),
                          "paired_notes": len(pairs), "left_on": sum(sounding.values())})
    received = {k: receivers[0][k] for k in ("note_on", "note_off")}
    msgs = got[0]
    ons = [m.time_s for m in msgs if m.is_note_on]
    bar_s = 4 * 60.0 / tempo
    gaps = [b - a for a, b in zip(ons, ons[1:])]
    after = [s for s in samples if s["t"] >= 60.0] or samples
    base = after[0]["rss_mb"]
    last = after[-1]["rss_mb"]
    return {
        "minutes": minutes, "tempo_bpm": tempo, "param_changes_per_s": param_rate, "reload_every_s": reload_every,
        "jack": {"rate": server.rate, "period": period, "realtime": server.realtime},
        "params_sent": params_sent, "reloads_sent": reloads_sent,
        "reloads_done": samples[-1]["reloads"] if samples else {},
        "sent": sent, "received": received, "received_b": {k: receivers[1][k] for k in ("note_on", "note_off")},
        "sent_equals_received": sent == received,
        "sent_equals_received_b": sent == {k: receivers[1][k] for k in ("note_on", "note_off")},
        "notes_left_on_at_receiver": receivers[0]["left_on"], "notes_left_on_at_receiver_b": receivers[1]["left_on"],
        "paired_notes": receivers[0]["paired_notes"], "jack_periods_missed": missed,
        "rss_mb": {"first_minute": base, "last": last, "max_after_first_minute": max(s["rss_mb"] for s in after),
                   "growth_pct": round(100.0 * (last - base) / base, 2)},
        "longest_gap_bars": round(max(gaps) / bar_s, 3) if gaps else None,
        "longest_silence_bars": round(longest_silence_s(msgs) / bar_s, 3),
        "status_answered": sum(s["status_answered"] for s in samples), "status_asked": len(samples),
        "osc_errors_received": len(status_in.errors),
        "exit_code": code, "exit_s": round(exit_s, 3),
        "terminate_called": "terminate called" in run.output,
        "warnings": [line for line in run.lines if "WARNING" in line or "error" in line.lower()][:20],
        "load_average": os.getloadavg(), "samples": samples,
    }


def targets(r: dict) -> dict:
    """Each target on its own. A message received by one receiver and not the other was lost by that
    receiver (the host sent it once to both): ``host_sent_every_message`` holds when either got all."""
    return {
        "host_sent_every_message": r["sent_equals_received"] or r["sent_equals_received_b"],
        "receiver_a_got_every_message": r["sent_equals_received"],
        "receiver_b_got_every_message": r["sent_equals_received_b"],
        "no_note_left_on": r["notes_left_on_at_receiver"] == 0 and r["notes_left_on_at_receiver_b"] == 0,
        "rss_growth_under_5_pct": r["rss_mb"]["growth_pct"] < 5.0,
        "never_silent_over_a_bar": r["longest_silence_bars"] <= 1.0,
        "exit_0_within_3_s": r["exit_code"] == 0 and r["exit_s"] < 3.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--tempo", type=float, default=180.0)
    ap.add_argument("--param-rate", type=float, default=50.0, help="parameter changes a second")
    ap.add_argument("--reload-every", type=float, default=30.0, help="seconds between /cmt/reload")
    ap.add_argument("--period", type=int, default=64, help="JACK period in frames (48 kHz)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = ap.parse_args(argv)
    result = soak(args.minutes, args.tempo, args.param_rate, args.reload_every, args.period)
    summary = {k: v for k, v in result.items() if k not in ("samples", "warnings")}
    print(json.dumps(summary, indent=1))
    result["targets"] = targets(result)
    ok = all(result["targets"].values())
    result["targets_met"] = ok
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{args.out}: targets {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Control latency during an OSC flood: how long /cmt/status, /cmt/tempo and /cmt/stop take to act.

``cmt-bridge run --play arp`` (the test arpeggiator: no model, so only the OSC
path is measured) on a private JACK server; a sender process floods the OSC
port with ``--rate`` bad datagrams a second (invalid UTF-8, NaN values, unknown
addresses, truncated packets). Measured, idle (the baseline, same run) and
during the flood:

- status: ``/cmt/status`` sent -> its reply received (round trip);
- tempo: ``/cmt/tempo X`` then ``/cmt/status`` -> the first reply showing X;
- stop: ``/cmt/stop`` sent -> the status reply after it shows nothing playing.

Each ``--trials`` times; p50 / p99 / max in ms and the flood/idle ratio.
Target: every control acts within 100 ms during a flood of 5,000 datagrams/s.

    python bench/flood_bench.py            # -> bench/results/flood.json
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pythonosc.osc_packet import OscPacket  # noqa: E402

import peers  # noqa: E402
from bridge.osc import build_message  # noqa: E402
from fakeplugins import ARP  # noqa: E402
from fakeplugins.running import BridgeRun  # noqa: E402

JUNK = [b"/\x84\xff\xfe\0\0\0\0,i\0\0\0\0\0\1", build_message("/cmt/arp/gate", [float("nan")]),
        build_message("/cmt/nowhere", [1]), b"/cmt/tempo\0\0,f", build_message("/cmt/arp/root", [60])]


def flood(port: int, rate: int, stop) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent, start = 0, time.monotonic()
    while not stop.is_set():
        for _ in range(rate // 200):
            sock.sendto(JUNK[sent % len(JUNK)], ("127.0.0.1", port))
            sent += 1
        delay = start + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class Replies:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.port = self.sock.getsockname()[1]

    def until(self, pred, timeout: float = 2.0) -> float | None:
        """Monotonic time of the first /cmt/status reply that satisfies ``pred`` (None: timed out)."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            t = time.monotonic()
            for m in OscPacket(data).messages:
                if m.message.address == "/cmt/status" and pred(json.loads(m.message.params[0])):
                    return t

    def clear(self) -> None:
        self.sock.settimeout(0.0)
        try:
            while True:
                self.sock.recv(65536)
        except (BlockingIOError, socket.timeout):
            pass


def measure(run: BridgeRun, replies: Replies, trials: int) -> dict:
    out = {"status": [], "tempo": [], "stop": [], "timeouts": 0}
    for i in range(trials):
        replies.clear()
        t0 = time.monotonic()
        run.send("/cmt/status")
        t = replies.until(lambda s: True)
        out["status"].append(None if t is None else t - t0)
        bpm = 150.0 + (i % 2) * 10
        t0 = time.monotonic()
        run.send("/cmt/tempo", bpm)
        run.send("/cmt/status")
        t = replies.until(lambda s, b=bpm: abs(s["tempo"] - b) < 1e-6)
        out["tempo"].append(None if t is None else t - t0)
        t0 = time.monotonic()
        run.send("/cmt/stop")
        run.send("/cmt/status")
        t = replies.until(lambda s: s["playing"] == [])
        out["stop"].append(None if t is None else t - t0)
        run.send("/cmt/play", "arp")
        time.sleep(0.1)
    for key in ("status", "tempo", "stop"):
        values = out[key]
        out["timeouts"] += sum(v is None for v in values)
        ms = sorted(1000 * v for v in values if v is not None)
        out[key] = {"p50_ms": round(ms[len(ms) // 2], 2), "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
                    "max_ms": round(ms[-1], 2), "n": len(ms)} if ms else {"n": 0}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=5000, help="flood datagrams a second")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "flood.json")
    args = ap.parse_args(argv)
    replies = Replies()
    with peers.JackServer(name=f"flood{os.getpid()}") as server:
        run = BridgeRun("--play", "arp", "--tempo", "150", plugins=(ARP,), env=server.env,
                        reply_port=replies.port)
        try:
            run.wait_ready(60)
            time.sleep(1.0)
            idle = measure(run, replies, args.trials)
            ctx = multiprocessing.get_context("spawn")
            stop = ctx.Event()
            sender = ctx.Process(target=flood, args=(run.osc_port, args.rate, stop), daemon=True)
            sender.start()
            flood_start = time.monotonic()
            time.sleep(2.0)
            flooded = measure(run, replies, args.trials)
            stop.set()
            sender.join(5)
            flood_s = time.monotonic() - flood_start
            run.send("/cmt/status")
            final = replies.until(lambda s: True, 5.0)
            replies.sock.settimeout(2.0)
            run.send("/cmt/status")
            stats = None
            t = time.monotonic() + 3
            while stats is None and time.monotonic() < t:
                try:
                    for m in OscPacket(replies.sock.recv(65536)).messages:
                        if m.message.address == "/cmt/status":
                            stats = json.loads(m.message.params[0])["osc"]
                except socket.timeout:
                    break
            code = run.stop()
        finally:
            run.close()
    ratio = {k: round(flooded[k]["p99_ms"] / max(idle[k]["p99_ms"], 1e-3), 2)
             for k in ("status", "tempo", "stop") if flooded[k].get("n") and idle[k].get("n")}
    achieved = round((stats or {}).get("received", 0) / flood_s) if stats else None
    result = {"rate_per_s": args.rate, "received_per_s": achieved, "flood_s": round(flood_s, 2), "trials": args.trials, "idle": idle, "flood": flooded,
              "p99_ratio_flood_to_idle": ratio, "osc_counters": stats, "answered_after": final is not None,
              "exit_code": code, "target_ms": 100.0,
              "target_met": all(flooded[k].get("max_ms", 1e9) <= 100.0 for k in ("status", "tempo", "stop"))
              and flooded["timeouts"] == 0, "load_average": os.getloadavg()}
    print(json.dumps(result, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Timing benchmark (issue 2): a dense stream into JACK, our transport against mido's MidiFile.play().

16th notes at 180 BPM in 4 voices (1,440 notes in 30 s) go into a JACK port
(``jackd -d dummy -p 64``, realtime when permitted) under four loads in the host
process: idle, a numpy-heavy thread, a GIL-heavy pure-Python thread, and real
ONNX inference (onnxruntime, a model built on the fly with the ``onnx`` helper
API). For every sender we measure

- send lateness: actual send time minus intended (the transport's output
  process logs it per message; for mido we time each send after ``play()``
  yields it);
- arrival jitter at ``jack_midi_dump`` in another process: arrival frame time
  minus intended time, detrended (the dummy driver's frame clock runs at its own
  rate), as |deviation from the median|.

Senders: ``transport`` (rtmidi in the output process, the default),
``transport-jack`` (JACK-native frame-offset output; only with a realtime
server) and ``mido`` (the baseline: ``MidiFile.play()`` in the host process, the
same notes, the same port type, the same load).

    .venv/bin/python bench/timing.py [--seconds 30] [--period 64] [--loads idle,numpy,gil,onnx]

Prints a table with ratios (mido / transport) and writes bench/results/timing.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import peers  # noqa: E402  (tests/peers.py: JackServer, MidiDump)
from bridge.clock import Clock  # noqa: E402
from bridge.events import Note  # noqa: E402
from bridge.transport import Transport, TransportOptions  # noqa: E402

BPM = 180.0
VOICES = 4
STEP = 0.25          # beats: 16th notes
DURATION = 0.2       # beats: note-offs fall between the steps
LOCAL_S = 0.25       # arrival jitter: deviation from the rolling median of +-0.25 s


def make_stream(seconds: float) -> list[Note]:
    steps = int(seconds * BPM / 60 / STEP)
    rng = np.random.default_rng(7)
    notes = []
    for step in range(steps):
        for voice in range(VOICES):
            pitch = 36 + 12 * voice + int(rng.integers(0, 12))
            notes.append(Note(pitch, 64 + voice * 10, step * STEP, DURATION, channel=voice))
    return notes


# ----- loads in the host process -----
class Load:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.iterations = 0

    def __enter__(self) -> "Load":
        if self.kind == "idle":
            return self
        work = {"numpy": self._numpy, "gil": self._gil, "onnx": self._onnx}[self.kind]()
        self.thread = threading.Thread(target=self._loop, args=(work,), daemon=True)
        self.thread.start()
        time.sleep(1.0)
        return self

    def _loop(self, work) -> None:
        while not self.stop.is_set():
            work()
            self.iterations += 1

    def _numpy(self):
        a = np.random.default_rng(0).random((400, 400))
        return lambda: a @ a

    def _gil(self):
        return lambda: sum(i * i for i in range(20000))

    def _onnx(self):
        session, feeds = make_onnx_session()
        return lambda: session.run(None, feeds)

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(10)


def make_onnx_session():
    """A decoder-step-sized MLP (512 -> 1024 -> 1024 -> 51, batch 16) built with onnx.helper."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    sizes = [512, 1024, 1024, 51]
    nodes, inits, prev = [], [], "x"
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        inits.append(numpy_helper.from_array((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]))
        prev = f"h{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Tanh", [prev], [f"a{i}"]))
            prev = f"a{i}"
    nodes.append(helper.make_node("Softmax", [prev], ["probs"], axis=-1))
    graph = helper.make_graph(nodes, "bench_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, 512])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [16, 51])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session, {"x": rng.standard_normal((16, 512)).astype(np.float32)}


# ----- senders -----
def run_transport(server, notes, seconds, jack_native: bool, tag: str) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="cmtb-bench-"))
    clock = Clock(BPM)
    options = TransportOptions(api="jack", virtual_name=f"bench{tag}", osc_out=("127.0.0.1", peers.free_udp_port()),
                               record=tmp / "take.mid", timing_log=tmp / "timing.csv", jack_native=jack_native)
    transport = Transport(options, clock.anchor)
    transport.start()
    with peers.MidiDump(server) as dump:
        dump.connect(transport.port_name)
        time.sleep(0.5)
        at = clock.next_bar(margin=2.0)
        bars: dict[int, list[Note]] = {}
        for n in notes:
            bars.setdefault(int(n.start // 4), []).append(n.shifted(-4 * int(n.start // 4)))
        for bar in sorted(bars):  # the host's way: a bar at a time, one bar ahead
            while clock.now() < at + 4 * bar - 4:
                time.sleep(0.02)
            transport.schedule("bench", bars[bar], at + 4 * bar)
        time.sleep(max(0.0, clock.time_at(at + notes[-1].end) - time.monotonic()) + 1.0)
        transport.close()
        time.sleep(0.3)
        received = dump.messages()
    rows = []
    with open(options.timing_log) as fh:
        for row in csv.DictReader(fh):
            rows.append((float(row["intended_s"]), float(row["actual_s"]), int(row["status"]), int(row["data1"])))
    return analyse(rows, received, server.rate)


def run_mido(server, notes, tag: str) -> dict:
    import mido

    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK")
    name = f"benchmido{tag}"
    port = backend.open_output(name, virtual=True, client_name=name)
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM)))
    events = []  # the transport's order: by beat, note-offs first, then the order scheduled
    for i, n in enumerate(notes):
        events.append((n.start, 1, i, mido.Message("note_on", channel=n.channel, note=n.pitch, velocity=n.velocity)))
        events.append((n.end, 0, i, mido.Message("note_off", channel=n.channel, note=n.pitch, velocity=64)))
    events.sort(key=lambda e: e[:3])
    last = 0
    for beat, _, _, msg in events:
        tick = int(round(beat * 480))
        track.append(msg.copy(time=tick - last))
        last = tick
    offsets, elapsed = [], 0.0
    for msg in mid:
        elapsed += msg.time
        if not msg.is_meta:
            offsets.append(elapsed)
    with peers.MidiDump(server) as dump:
        dump.connect(f"{name}:{name}")
        time.sleep(0.5)
        start: list[float] = []

        def now() -> float:
            t = time.monotonic()
            if not start:
                start.append(t)
            return t

        rows = []
        for i, msg in enumerate(mid.play(now=now)):
            actual = time.monotonic()
            port.send(msg)
            data = msg.bytes()
            rows.append((start[0] + offsets[i], actual, data[0], data[1]))
        time.sleep(1.0)
        received = dump.messages()
    port.close()
    return analyse(rows, received, server.rate)


# ----- analysis -----
def analyse(rows, received, rate: int) -> dict:
    sent = [r for r in rows if 0x80 <= r[2] < 0xA0]
    got = [m for m in received if m.data[0] & 0xF0 in (0x80, 0x90)]
    lateness = np.array([actual - intended for intended, actual, _, _ in sent]) * 1e3
    # pair arrivals with sends in order, by content (a lost message shifts nothing after it)
    pairs, j = [], 0
    for intended, _, status, data1 in sent:
        k = j
        while k < len(got) and k < j + 8 and (got[k].data[0], got[k].data[1]) != (status, data1):
            k += 1
        if k < len(got) and (got[k].data[0], got[k].data[1]) == (status, data1):
            pairs.append((intended, got[k].frames / rate))
            j = k + 1
    out = {"messages": len(sent), "received": len(got), "matched": len(pairs),
           "send_lateness_p50_ms": pct(lateness, 50), "send_lateness_p99_ms": pct(lateness, 99),
           "send_lateness_max_ms": float(lateness.max()) if len(lateness) else None}
    if len(pairs) > 10:
        intended, arrival = np.array(pairs).T
        residual = arrival - intended
        fit = np.polyfit(intended - intended[0], residual, 1)  # the dummy driver's own frame rate
        detrended = (residual - np.polyval(fit, intended - intended[0])) * 1e3
        global_jitter = np.abs(detrended - np.median(detrended))
        # the dummy driver's frame counter itself steps when the driver is late (VM, load): compare each
        # arrival with its neighbours (rolling median over +-LOCAL_S), so a step is not counted as jitter
        lo = np.searchsorted(intended, intended - LOCAL_S)
        hi = np.searchsorted(intended, intended + LOCAL_S)
        local = np.array([np.median(detrended[a:b]) for a, b in zip(lo, hi)])
        jitter = np.abs(detrended - local)
        out.update({"arrival_jitter_p50_ms": pct(jitter, 50), "arrival_jitter_p99_ms": pct(jitter, 99),
                    "arrival_jitter_max_ms": float(jitter.max()),
                    "arrival_jitter_global_p99_ms": pct(global_jitter, 99),
                    "arrival_spread_p1_p99_ms": float(np.percentile(detrended, 99) - np.percentile(detrended, 1)),
                    "frame_clock_drift_ppm": float(fit[0] * 1e6)})
    return out


def pct(values, q) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def fmt(value) -> str:
    return "-" if value is None else f"{value:7.3f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--period", type=int, default=64)
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--loads", default="idle,numpy,gil,onnx")
    parser.add_argument("--senders", default="transport,mido",
                        help="comma list of transport, transport-jack (experimental JACK-native), mido")
    parser.add_argument("--no-realtime-jack", action="store_true", help="run jackd --no-realtime")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "timing.json")
    args = parser.parse_args(argv)

    server = peers.JackServer(name=f"cmtbbench{os.getpid()}", rate=args.rate, period=args.period,
                              realtime=not args.no_realtime_jack)
    try:
        server.start()
    except RuntimeError:
        server = peers.JackServer(name=f"cmtbbench{os.getpid()}b", rate=args.rate, period=args.period).start()
    realtime = "realtime mode" in server.log.read_text()
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    senders = [s for s in args.senders.split(",") if s != "transport-jack" or realtime]
    notes = make_stream(args.seconds)
    period_ms = 1000.0 * args.period / args.rate
    print(f"JACK dummy driver: {args.rate} Hz, period {args.period} frames = {period_ms:.3f} ms, "
          f"{'realtime' if realtime else 'no realtime'}; {len(notes)} notes in {args.seconds:g} s "
          f"(16ths at {BPM:g} BPM, {VOICES} voices); load average {os.getloadavg()[0]:.2f}", flush=True)
    results: dict = {"jack": {"rate": args.rate, "period_frames": args.period, "period_ms": period_ms,
                              "realtime": realtime}, "notes": len(notes), "seconds": args.seconds,
                     "cpus": os.cpu_count(), "loads": {}}
    run_transport(server, make_stream(3.0), 3.0, False, f"warmup{os.getpid()}")  # the server settles first
    xruns_seen = server.log.read_text().count("XRun = ")
    try:
        for load in args.loads.split(","):
            with Load(load) as running:
                row = {}
                for sender in senders:
                    tag = f"{load}{sender.replace('-', '')}{os.getpid()}"
                    if sender == "mido":
                        row[sender] = run_mido(server, notes, tag)
                    else:
                        row[sender] = run_transport(server, notes, args.seconds, sender == "transport-jack", tag)
                    r = row[sender]
                    xruns = server.log.read_text().count("XRun = ")
                    r["jack_driver_xruns"], xruns_seen = xruns - xruns_seen, xruns
                    print(f"  {load:6s} {sender:15s} send lateness p50 {fmt(r['send_lateness_p50_ms'])} "
                          f"p99 {fmt(r['send_lateness_p99_ms'])} ms | arrival jitter p99 "
                          f"{fmt(r.get('arrival_jitter_p99_ms'))} ms (global fit {fmt(r.get('arrival_jitter_global_p99_ms'))}) | "
                          f"{r['matched']}/{r['messages']} matched | {r['jack_driver_xruns']} driver xruns",
                          flush=True)
                row["load_iterations"] = running.iterations
            results["loads"][load] = row
    finally:
        server.stop()
    report(results, senders, period_ms)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def report(results: dict, senders: list[str], period_ms: float) -> None:
    print()
    print(f"{'load':7s} {'sender':15s} {'late p50':>9s} {'late p99':>9s} {'late max':>9s} {'jit p99':>8s} "
          f"{'jit max':>8s} {'lost':>5s}   (ms)")
    for load, row in results["loads"].items():
        for sender in senders:
            r = row[sender]
            print(f"{load:7s} {sender:15s} {fmt(r['send_lateness_p50_ms']):>9s} {fmt(r['send_lateness_p99_ms']):>9s} "
                  f"{fmt(r['send_lateness_max_ms']):>9s} {fmt(r.get('arrival_jitter_p99_ms')):>8s} "
                  f"{fmt(r.get('arrival_jitter_max_ms')):>8s} {r['messages'] - r['matched']:5d}")
        ours, base = row.get("transport"), row.get("mido")
        if ours and base:
            ratios = {
                "send_lateness_p99_ratio_mido_over_transport": _ratio(base["send_lateness_p99_ms"],
                                                                      ours["send_lateness_p99_ms"]),
                "arrival_jitter_p99_ratio_mido_over_transport": _ratio(base.get("arrival_jitter_p99_ms"),
                                                                       ours.get("arrival_jitter_p99_ms")),
            }
            targets = {
                "send_lateness_p99_le_1ms": ours["send_lateness_p99_ms"] <= 1.0,
                "arrival_jitter_p99_le_1ms_plus_period": (ours.get("arrival_jitter_p99_ms") or 1e9)
                <= 1.0 + period_ms,
                "arrival_jitter_p99_le_half_mido": (ours.get("arrival_jitter_p99_ms") or 1e9)
                <= 0.5 * (base.get("arrival_jitter_p99_ms") or 0),
            }
            row["ratios"], row["targets"] = ratios, targets
            print(f"{'':7s} ratios mido/transport: send p99 x{fmt(ratios['send_lateness_p99_ratio_mido_over_transport'])}"
                  f", arrival jitter p99 x{fmt(ratios['arrival_jitter_p99_ratio_mido_over_transport'])}; targets "
                  + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in targets.items()))


def _ratio(a, b):
    return None if a is None or b in (None, 0) else float(a / b)


if __name__ == "__main__":
    raise SystemExit(main())

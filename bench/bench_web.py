"""Web surface benchmark: page action -> first note at a JACK receiver, and the piano roll's frame rate.

    .venv/bin/python bench/bench_web.py [--trials 30] [--period 64] [--seconds 10]

- latency: headless chromium (Debian's) shows the page of ``cmt-bridge run --web
  --quantize 0``; each trial clicks the *play* button of the ARP test plugin
  (``page.evaluate`` -> the button's click handler -> the page's WebSocket ->
  the OSC intake -> the host) and the first note-on is stamped by a JACK-Client
  receiver in its own process with realtime threads (monotonic time in its
  process callback; in this process, Playwright's work made it miss periods). t0 is taken before the evaluate call, so the DevTools
  round trip counts against the page. Baseline in the same run, on the same
  host process, trials interleaved: the same ``/cmt/play arp`` as an OSC
  datagram; and, to tell the browser's share from the host's, the same JSON
  from a Python WebSocket client. Ratio: web p99 / OSC p99. A trial during which jackd logs a lost
  period (a client "was not finished": JACK drops that period's MIDI, and the
  receiver would take the arp's second note for the first) is counted, not timed.
- piano roll: 100 notes/s (bench/rain.py: 25 notes a beat at 240 BPM) through
  the whole path (host -> output process -> the surface's UDP tap -> WebSocket
  -> canvas). Frame rate and frame-time p99 come from the page's
  requestAnimationFrame timestamps (the Performance API's high-resolution time),
  over ``--seconds``; baseline: the same page with nothing playing, same run.

Targets (issue 16): page action -> first note p99 <= 20 ms; >= 30 fps at 100 notes/s.
Writes bench/results/web.json. Not part of the test suite (machines are noisy).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import peers  # noqa: E402
from fakeplugins import ARP  # noqa: E402
from fakeplugins.running import BridgeRun  # noqa: E402
from host_bench import osc_play, pct, summary  # noqa: E402

RECEIVER = r"""
import sys, threading, time, jack
client = jack.Client(sys.argv[1], no_start_server=True)
port = client.midi_inports.register("in")
stamps, ready = [], threading.Event()

@client.set_process_callback
def process(frames):
    for _offset, data in port.incoming_midi_events():
        data = bytes(data)
        if len(data) == 3 and data[0] & 0xF0 == 0x90 and data[2] > 0:
            stamps.append(time.monotonic())   # system-wide CLOCK_MONOTONIC: the bench's clock too
            ready.set()

client.activate()
print("ready", flush=True)
while True:
    ready.wait(0.5)
    ready.clear()
    while stamps:
        print(repr(stamps.pop(0)), flush=True)
"""
RAIN = str(ROOT / "bench" / "rain.py")
TEMPO = 240.0          # BPM: 4 beats/s, so rain's 25 notes a beat are 100 notes/s
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def missed_periods(server: peers.JackServer, since: int) -> int:
    """Clients that "was not finished" since ``since`` (JACK dropped their period's MIDI). The dummy
    driver's own late cycles ("JackTimedDriver::Process XRun") drop nothing: they stay in the figures."""
    try:
        text = server.log.read_text(errors="replace")[since:]
    except OSError:
        return 0
    return text.count("was not finished")


class Receiver:
    """A JACK MIDI input in its own process with realtime threads: note-on times (monotonic s), stamped in
    its process callback. (In the bench's process, Playwright's work made it miss JACK periods.)"""

    def __init__(self, server: peers.JackServer, name: str):
        import subprocess
        import threading

        self.proc = subprocess.Popen([sys.executable, "-c", RECEIVER, name], stdout=subprocess.PIPE, text=True,
                                     env=server.env)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the JACK receiver did not start")
        peers.realtime_threads(self.proc.pid)
        self.arrivals: list[float] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self.lock:
                self.arrivals.append(float(line))

    def first_after(self, t0: float, timeout: float = 2.0) -> float | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                hits = [t for t in self.arrivals if t >= t0 - 0.002]
            if hits:
                return min(hits)
            time.sleep(0.001)
        return None

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def latency_trials(server: peers.JackServer, run: BridgeRun, page, trials: int) -> dict:
    """Interleaved trials of the same /cmt/play arp: the page's button, a Python WebSocket client (the
    host's web path without the browser), and an OSC datagram (the baseline)."""
    from websockets.sync.client import connect

    recv = Receiver(server, "webbench")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    play, stop = osc_play(run.osc_port, "/cmt/play", "arp"), osc_play(run.osc_port, "/cmt/stop", "arp")
    ws_url = page.url.replace("http://", "ws://").split("?")[0].rstrip("/") + "/ws"
    kinds = ("web", "ws", "osc")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    lost = dict.fromkeys(kinds, 0)
    try:
        server.connect(run.port_name, "webbench:in")
        time.sleep(1.0)   # the arp's first phrase is cued after prepare()
        with connect(ws_url, ping_interval=None, max_queue=None) as client:   # it reads nothing back
            for i in range(len(kinds) * trials):
                kind = kinds[i % len(kinds)]
                with recv.lock:
                    recv.arrivals.clear()
                mark = server.log_mark()
                t0 = time.monotonic()
                if kind == "web":
                    page.evaluate("document.getElementById('arp-play').click()")
                elif kind == "ws":
                    client.send(json.dumps({"address": "/cmt/play", "args": ["arp"]}))
                else:
                    sock.sendto(play, ("127.0.0.1", run.osc_port))
                t1 = recv.first_after(t0)
                if missed_periods(server, mark):
                    # a JACK client missed a period and JACK dropped its MIDI (jackd logs it): the receiver
                    # would see the arp's second note as the first (+125 ms); the trial says nothing of the path
                    lost[kind] += 1
                elif t1 is not None:
                    times[kind].append((t1 - t0) * 1e3)
                sock.sendto(stop, ("127.0.0.1", run.osc_port))
                time.sleep(0.4)   # the cue is made again while idle
    finally:
        sock.close()
        recv.close()
    devtools = []
    for _ in range(trials):   # what the DevTools round trip alone adds to a page action (t0 is taken before it)
        t0 = time.monotonic()
        page.evaluate("0")
        devtools.append((time.monotonic() - t0) * 1e3)
    names = {"web": "web_play_to_first_note_ms", "ws": "ws_client_play_to_first_note_ms",
             "osc": "osc_play_to_first_note_ms"}
    out: dict = {}
    for kind, name in names.items():
        out[name] = summary(times[kind], trials)
        if times[kind]:
            out[name]["p90"] = round(pct(times[kind], 90), 3)
        out[name]["all"] = [round(x, 2) for x in times[kind]]
    out["devtools_evaluate_round_trip_ms"] = summary(devtools, trials)
    out["trials_with_missed_jack_periods"] = lost
    return out


def roll_fps(run: BridgeRun, page, seconds: float) -> dict:
    """Frame rate of the page idle (baseline), then while rain plays 100 notes/s."""
    page.wait_for_timeout(seconds * 1000)
    idle = page.evaluate(f"window.cmtRoll.stats({seconds * 1000})")
    run.send("/cmt/play", "rain")
    end = time.monotonic() + 15   # (no wait_for_function: its polling evaluates strings, which the page's CSP refuses)
    while page.evaluate("window.cmtRoll.received") < 50 and time.monotonic() < end:
        time.sleep(0.1)
    page.wait_for_timeout(2000)
    before = page.evaluate("window.cmtRoll.received")
    page.wait_for_timeout(seconds * 1000)
    busy = page.evaluate(f"window.cmtRoll.stats({seconds * 1000})")
    busy["notes_per_s"] = round((page.evaluate("window.cmtRoll.received") - before) / seconds, 1)
    run.send("/cmt/stop", "rain")
    return {"roll_idle": idle, "roll_100_notes_per_s": busy}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--period", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of each frame-rate measurement")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "web.json")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with peers.JackServer(period=args.period) as server, sync_playwright() as p:
        os.environ["JACK_DEFAULT_SERVER"] = server.name
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        run = BridgeRun("--web", "0", "--quantize", "0", "--tempo", str(TEMPO), "--no-record",
                        plugins=(ARP, RAIN), env=server.env, disable="midime,tagger,cmt,transcription")
        try:
            run.wait_ready()
            url = re.search(r"\| web (\S+)", run.output).group(1)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            page.wait_for_selector(".link.on", timeout=15000)
            result = {"jack": {"rate": server.rate, "period": server.period,
                               "period_ms": round(1000 * server.period / server.rate, 3)},
                      "cores": os.cpu_count(), "browser": f"chromium {browser.version} (headless)"}
            result.update(latency_trials(server, run, page, args.trials))
            result.update(roll_fps(run, page, args.seconds))
        finally:
            run.close()
            browser.close()
    web, osc = result["web_play_to_first_note_ms"], result["osc_play_to_first_note_ms"]
    for q in ("p50", "p90", "p99"):
        if web.get(q) and osc.get(q):
            result[f"{q}_ratio_web_vs_osc"] = round(web[q] / osc[q], 2)
    result["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]   # a shared 2-core machine: context
    idle, busy = result["roll_idle"], result["roll_100_notes_per_s"]
    if idle.get("fps"):
        result["fps_ratio_100_notes_vs_idle"] = round(busy["fps"] / idle["fps"], 3)
    result["targets"] = {"web_play_to_first_note_p99_ms": 20.0, "roll_fps_at_100_notes_per_s": 30.0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict) or "all" not in v}, indent=2))
    ws = result["ws_client_play_to_first_note_ms"]
    print(f"p50 / p90 / p99 ms: page {web.get('p50')} / {web.get('p90')} / {web.get('p99')}; WebSocket client "
          f"{ws.get('p50')} / {ws.get('p90')} / {ws.get('p99')}; OSC {osc.get('p50')} / {osc.get('p90')} / {osc.get('p99')}")
    print(f"page action -> first note p99 {web.get('p99')} ms (OSC {osc.get('p99')} ms, ratio "
          f"{result.get('p99_ratio_web_vs_osc')}); roll {busy['fps']:.1f} fps at {busy['notes_per_s']} notes/s "
          f"(idle {idle['fps']:.1f} fps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

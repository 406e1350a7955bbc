"""A JACK audio peer for tests and benches: plays a WAV file out of ``<client>:out`` in its own process.

    python tests/jack_wav_player.py FILE CLIENT [--wait-connection]

The file must be at the server's rate (mono or stereo, mixed down). The port
plays silence until it is connected (with ``--wait-connection``), then the
file, then silence; the process prints ``ready``, then ``playing <frame>``
(the JACK frame time of the file's first sample) and ``done`` and exits one
second after the file ends.
"""
from __future__ import annotations

import sys
import threading
import time

import jack
import soundfile


def main(argv: list[str]) -> int:
    path, name = argv[0], argv[1]
    wait = "--wait-connection" in argv
    x, rate = soundfile.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    client = jack.Client(name, no_start_server=True)
    if client.samplerate != rate:
        print(f"error: {path} is at {rate} Hz, the JACK server at {client.samplerate} Hz", flush=True)
        return 2
    out = client.outports.register("out")
    state = {"go": not wait, "pos": 0, "first": None}
    finished = threading.Event()

    @client.set_process_callback
    def process(frames: int) -> None:
        buf = out.get_array()
        if not state["go"] or state["pos"] >= len(x):
            buf.fill(0.0)
            if state["go"] and state["pos"] >= len(x):
                finished.set()
            return
        if state["first"] is None:
            state["first"] = client.last_frame_time
        chunk = x[state["pos"]:state["pos"] + frames]
        buf[:len(chunk)] = chunk
        buf[len(chunk):] = 0.0
        state["pos"] += frames

    client.activate()
    print("ready", flush=True)
    while wait and not out.connections:
        time.sleep(0.005)
    state["go"] = True
    while state["first"] is None:
        time.sleep(0.001)
    print(f"playing {state['first']}", flush=True)
    finished.wait(len(x) / rate + 30)
    time.sleep(1.0)
    print("done", flush=True)
    client.deactivate()
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

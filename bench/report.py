"""Print the README's "Measured" tables from bench/results/*.json (so the README quotes what bench/ wrote).

    .venv/bin/python bench/report.py            # markdown on stdout
"""
from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _load(name: str) -> dict | None:
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def timing(d: dict) -> list[str]:
    j = d["jack"]
    out = [f"**Timing** (`python bench/timing.py`: {d['notes']} notes, 16ths at 180 BPM in 4 voices for "
           f"{d['seconds']:.0f} s into JACK, dummy driver {j['rate']} Hz / {j['period_frames']} frames = "
           f"{j['period_ms']:.2f} ms period, {'realtime' if j.get('realtime') else 'non-realtime'} jackd, "
           f"{d['cpus']} cores; baseline: mido's `MidiFile.play()` to the same port under the same load; "
           "arrival jitter = deviation from a rolling median at an independent `jack_midi_dump`, "
           "after removing the dummy driver's clock drift). p99 in ms:", "",
           "| load | send lateness: ours | mido | ratio | arrival jitter: ours | mido | ratio | lost |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for load, r in d["loads"].items():
        t, m = r["transport"], r["mido"]
        lost = t["messages"] - t["matched"]
        out.append(f"| {load} | {t['send_lateness_p99_ms']:.2f} | {m['send_lateness_p99_ms']:.2f} | "
                   f"{t['send_lateness_p99_ms'] / m['send_lateness_p99_ms']:.2f} | {t['arrival_jitter_p99_ms']:.2f} | "
                   f"{m['arrival_jitter_p99_ms']:.2f} | {t['arrival_jitter_p99_ms'] / m['arrival_jitter_p99_ms']:.2f} "
                   f"| {lost} |")
    out += ["", "Targets: send lateness p99 <= 1 ms; arrival jitter p99 <= 1 ms + one period and <= half of mido's."]
    return out


def host(d: dict) -> list[str]:
    o, f, r, m = d["osc_play_to_first_note_ms"], d["floor_udp_rtmidi_ms"], d["ready_s"], d["rss_mb"]
    return [f"**Host** (`python bench/host_bench.py`, JACK {d['jack']['period']} frames):", "",
            "| what | measured | baseline in the same run | target |", "| --- | --- | --- | --- |",
            f"| OSC `/cmt/play` -> first note at a JACK receiver ({o['trials']} trials) | p50 {o['p50']:.1f} ms, "
            f"p99 {o['p99']:.1f} ms | raw UDP -> rtmidi p50 {f['p50']:.1f} ms, p99 {f['p99']:.1f} ms | p99 <= 10 ms |",
            f"| `cmt-bridge run` start -> ready ({r['runs']} runs) | median {r['median']:.2f} s, max {r['max']:.2f} s "
            "| | <= 1.5 s |",
            f"| RSS host + output process ({m['generators_loaded']}) | {m['rss_sum']:.0f} MB (PSS {m['pss_sum']:.0f} MB) "
            "| | <= 250 MB |"]


def midime(d: dict) -> list[str]:
    return [f"**MidiMe / MusicVAE** (`python bench/bench_midime.py`, model {d['version']}, {d['split']}, "
            f"{d['windows']} windows, {d['threads']} thread, load average {d['load_average_1min']}):", "",
            "| what | measured | baseline | target |", "| --- | --- | --- | --- |",
            f"| reconstruction, free-running argmax from the posterior mean, per 16th | {d['reconstruction_acc']:.3f} "
            f"| all-hold {d['all_hold_baseline_acc']:.3f} | >= 0.90 |",
            f"| ... on steps that are not hold | {d['reconstruction_nonhold_acc']:.3f} | all-hold 0.000 | >= 0.70 |",
            f"| interpolation end points | {d['interpolation_endpoint_acc']:.3f} | | >= 0.90 |",
            f"| interpolation change per step (share of 16ths) | "
            f"{' / '.join(f'{x:.2f}' for x in d['interpolation_step_hamming'])} | | smooth |",
            f"| personalisation: style distance base / personal (median, worst of 5 tunes) | "
            f"{d['personalisation_ratio_median']:.2f}x, {d['personalisation_ratio_min']:.2f}x | base MusicVAE = 1x | >= 2x |",
            f"| MidiMe learning on {d['midime_learn_windows']} two-bar melodies | {d['midime_learn_s']:.2f} s | | <= 3 s |",
            f"| one 2-bar sample, onnxruntime 1 thread (median / best) | {d['decode_ms_onnxruntime']:.1f} / "
            f"{d['decode_ms_onnxruntime_min']:.1f} ms | torch eager {d['decode_ms_torch']:.1f} / "
            f"{d['decode_ms_torch_min']:.1f} ms ({d['decode_speedup_vs_torch']:.1f}x) | <= 5 ms |"]


def transcription(d: dict) -> list[str]:
    out = [f"**Transcription** (`python bench/bench_transcription.py`: {d['setup']['data']}; "
           f"{d['setup']['metric']}; basic-pitch in the same run):", "",
           ]
    fonts = list(d.get("by_soundfont", {"fluidr3": d["instruments"]}))
    out.append("| instrument | " + " | ".join(f"{f}: ours / basic-pitch" for f in fonts) + " | fluidr3 live (streaming) |")
    out.append("| --- " * (len(fonts) + 2) + "|")
    for name, r in d["instruments"].items():
        cells = []
        for f in fonts:
            rf = d.get("by_soundfont", {}).get(f, d["instruments"]).get(name, {})
            cells.append(f"{rf['ours']['f1']:.3f} / {rf['basic_pitch']['f1']:.3f}" if rf else "")
        out.append(f"| {name} | " + " | ".join(cells) + f" | {r['live']['f1']:.3f} |")
    out += ["", "fluidr3 and timgm6mb are the training soundfonts (the test tunes are new); musescore is a "
                "soundfont the model never heard."]
    rtf, live = d["rtf_one_thread"], d["live"]
    out += ["", f"Real-time factor on one thread: ours {rtf['ours']:.4f}, basic-pitch {rtf['basic_pitch']:.4f} "
                f"({rtf['speedup']:.1f}x faster; target <= 0.01). Live: audio block -> note-on latency median "
                f"{live['note_on_latency_ms']['median']:.0f} ms, p95 {live['note_on_latency_ms']['p95']:.0f} ms "
                f"({live['lookahead_ms']:.0f} ms of it is the model's look-ahead; target <= 100 ms)."]
    return out


def main() -> None:
    parts = [("timing", timing), ("host", host), ("midime", midime), ("transcription", transcription)]
    for name, fn in parts:
        d = _load(name)
        if d is None:
            print(f"({name}: no bench/results/{name}.json yet)\n")
            continue
        print("\n".join(fn(d)) + "\n")


if __name__ == "__main__":
    main()

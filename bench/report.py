"""Print the README's "Measured" tables from bench/results/*.json (so the README quotes what bench/ wrote).

    .venv/bin/python bench/report.py            # markdown on stdout
    .venv/bin/python bench/report.py --readme   # rewrite the README's generated blocks in place

In the README each generated block sits between ``<!-- report: NAME -->`` and ``<!-- /report -->``
(NAME is a bench/results/NAME.json); the text around them is written by hand.
"""
from __future__ import annotations

import argparse
import json
import re
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


def _ood_rows(d: dict, flat: dict | None = None) -> list[str]:
    """Reconstruction on the out-of-distribution sets (bench_midime.ood_figures), overall / non-hold."""
    rows = []
    for name, what in (("bach", "Bach (music21, first parts)"), ("generated", "generated melodies (leaps, runs)")):
        if f"ood_{name}" in d:
            o, fo = d[f"ood_{name}"], (flat or {}).get(f"ood_{name}", {})
            rows.append(f"| ... out of distribution: {what}, {o['windows']} windows, overall / non-hold | "
                        f"{o['reconstruction_acc']:.3f} / {o['reconstruction_nonhold_acc']:.3f} | "
                        + (f"flat {fo['reconstruction_acc']:.3f} / {fo['reconstruction_nonhold_acc']:.3f}; " if fo else "")
                        + f"all-hold {o['all_hold_baseline_acc']:.3f} | (reported) |")
    return rows


def midime(d: dict) -> list[str]:
    return [f"**MidiMe / MusicVAE** (`python bench/bench_midime.py`, model {d['version']}, {d['split']}, "
            f"{d['windows']} windows, {d['threads']} thread, load average {d['load_average_1min']}):", "",
            "| what | measured | baseline | target |", "| --- | --- | --- | --- |",
            f"| reconstruction, free-running argmax from the posterior mean, per 16th | {d['reconstruction_acc']:.3f} "
            f"| all-hold {d['all_hold_baseline_acc']:.3f} | >= 0.90 |",
            f"| ... on steps that are not hold | {d['reconstruction_nonhold_acc']:.3f} | all-hold 0.000 | >= 0.70 |",
            *_ood_rows(d),
            f"| interpolation end points | {d['interpolation_endpoint_acc']:.3f} | | >= 0.90 |",
            f"| interpolation change per step (share of 16ths) | "
            f"{' / '.join(f'{x:.2f}' for x in d['interpolation_step_hamming'])} | | smooth |",
            f"| personalisation: style distance base / personal (median, worst of 5 tunes) | "
            f"{d['personalisation_ratio_median']:.2f}x, {d['personalisation_ratio_min']:.2f}x | base MusicVAE = 1x | >= 2x |",
            f"| MidiMe learning on {d['midime_learn_windows']} two-bar melodies | {d['midime_learn_s']:.2f} s | | <= 3 s |",
            f"| one 2-bar sample, onnxruntime 1 thread (median / best){_decode_how(d)} | "
            f"{d['decode_ms_onnxruntime']:.1f} / {d['decode_ms_onnxruntime_min']:.1f} ms | torch eager "
            f"{d['decode_ms_torch']:.1f} / {d['decode_ms_torch_min']:.1f} ms ({d['decode_speedup_vs_torch']:.1f}x)"
            f"{_step_loop(d)} | <= 5 ms |"] + _torch_note(d)


def midime16(d: dict) -> list[str]:
    f = d.get("flat", {})
    held = d["heldout_repeat_share"]
    flat_rec = (f"flat {f['reconstruction_acc']:.3f}" if "reconstruction_acc" in f else "flat: " + f.get("skipped", ""))
    rows = [f"**MusicVAE 16 bars** (`python bench/bench_midime16.py`, model {d['version']}, {d['split']}, "
            f"{d['windows']} windows, 1 thread, load average {d['load_average_1min']}; the flat baseline has the same "
            f"encoder and training budget"
            + (f": {f['step']} steps, {f['minutes']} min" if "step" in f else "") + "):", "",
            "| what | hierarchical (shipped) | baseline | target |", "| --- | --- | --- | --- |",
            f"| reconstruction, free-running argmax from the posterior mean, per 16th | {d['reconstruction_acc']:.3f} | "
            f"{flat_rec}; all-hold {d['all_hold_baseline_acc']:.3f} | >= 0.85 |"]
    if "reconstruction_nonhold_acc" in f:
        rows.append(f"| ... on steps that are not hold | {d['reconstruction_nonhold_acc']:.3f} | flat "
                    f"{f['reconstruction_nonhold_acc']:.3f} ({d['nonhold_acc_vs_flat']:.1f}x) | >= 3x the flat |")
    rows += _ood_rows(d, f)
    if "reconstruction_nonhold_by_bar" in d:
        nb = d["reconstruction_nonhold_by_bar"]
        rows.append(f"| ... by bar: bar 1 / bars 2-15 (mean) / bar 16 | {nb[0]:.3f} / {sum(nb[1:15]) / 14:.3f} / "
                    f"{nb[15]:.3f} | | (diagnostic) |")
    free = (f"; the plain prior alone (form free) {d['sample_repeat_share_free']:.3f}"
            f" ({(d['sample_repeat_share_free'] - held) / held:+.0%})" if "sample_repeat_share_free" in d else "")
    how = ", each with a form drawn from the training tunes'" if "sample_repeat_share_free" in d else ""
    rows += [f"| structure: bars that repeat an earlier bar (<= 2 of 16 tokens differ), prior samples T "
             f"{d['sample_temperature']:g}{how} | {d['sample_repeat_share']:.3f} "
             f"({(d['sample_repeat_share'] - held) / held:+.0%}) | held-out tunes {held:.3f}{free}"
             + (f"; flat samples {f['sample_repeat_share']:.3f}" if "sample_repeat_share" in f else "")
             + " | within 20% of held-out |",
             f"| interpolation end points | {d['interpolation_endpoint_acc']:.3f} | | reconstruct |",
             f"| interpolation change per step (share of 16ths) | "
             f"{' / '.join(f'{x:.2f}' for x in d['interpolation_step_hamming'])} | | smooth |"]
    if "personalisation_ratio_median" in d:
        rows += [f"| personalisation: style distance base / personal (median, worst of {len(d['personalisation_trials'])} "
                 f"tunes) | {d['personalisation_ratio_median']:.2f}x, {d['personalisation_ratio_min']:.2f}x | base "
                 f"MusicVAE = 1x | >= 2x |",
                 f"| MidiMe learning on {d['midime_learn_windows']} 16-bar windows | {d['midime_learn_s']:.2f} s | | "
                 f"<= 3 s |"]
    rows.append(f"| one 16-bar sample, onnxruntime 1 thread (median): conductor + 16 `bar_sample` calls | "
                f"{d['sample_ms_bar_sample']:.1f} ms | step loop (1 + 16 x 17 calls) {d['sample_ms_step_loop']:.1f} ms "
                f"({d['sample_speedup_vs_step_loop']:.1f}x)"
                + (f"; flat in torch {f['decode_ms_torch']:.0f} ms" if "decode_ms_torch" in f else "") + " | <= 40 ms |")
    return rows


def web(d: dict) -> list[str]:
    w, ws, o = d["web_play_to_first_note_ms"], d["ws_client_play_to_first_note_ms"], d["osc_play_to_first_note_ms"]
    r, idle = d["roll_100_notes_per_s"], d["roll_idle"]
    lost = d["trials_with_missed_jack_periods"]
    load = d["load_average_1_5_15"][0]
    return [f"**Web surface** (`python bench/bench_web.py --trials {w['trials']}`: {d['browser']}, JACK "
            f"{d['jack']['period']} frames, load average {load}; trials where a JACK client missed a period are "
            f"counted, not timed: web {lost['web']}, WebSocket {lost['ws']}, OSC {lost['osc']}):", "",
            "| what | p50 / p90 / p99 | baseline in the same run | target |", "| --- | --- | --- | --- |",
            f"| page *play* button -> first note at a JACK receiver | {w['p50']:.1f} / {w['p90']:.1f} / {w['p99']:.1f} ms "
            f"| the same /cmt/play over OSC {o['p50']:.1f} / {o['p90']:.1f} / {o['p99']:.1f} ms "
            f"({d['p99_ratio_web_vs_osc']:.1f}x at p99); a Python WebSocket client {ws['p50']:.1f} / {ws['p90']:.1f} / "
            f"{ws['p99']:.1f} ms | p99 <= 20 ms |",
            f"| live piano roll at {r['notes_per_s']:.0f} notes/s | {r['fps']:.0f} fps (frame p99 {r['p99_ms']:.1f} ms, "
            f"draw p99 {r['draw_p99_ms']:.1f} ms) | idle page {idle['fps']:.0f} fps | >= 30 fps |"]


def _decode_how(d: dict) -> str:
    return ", `decoder_sample`: the 32 steps in one call" if d.get("decode_graph", "").startswith("decoder_sample") \
        else ""


def _step_loop(d: dict) -> str:
    if "decode_ms_step_loop_onnxruntime" not in d:
        return ""
    return (f"; onnxruntime step by step (32 calls) {d['decode_ms_step_loop_onnxruntime']:.1f} / "
            f"{d['decode_ms_step_loop_onnxruntime_min']:.1f} ms ({d['decode_speedup_vs_step_loop']:.1f}x)")


def _torch_note(d: dict) -> list[str]:
    if not d.get("torch_weights", "").startswith("rebuilt"):
        return []
    return ["", "Torch runs the same weights rebuilt from the ONNX initializers (the training checkpoint is not in "
                "git; `export/musicvae/weights.py`, checked against the torch outputs stored at export)."]


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


def transcription_ood(d: dict) -> list[str]:
    st, conds, s = d["setup"], d["conditions"], d["summary"]
    dev = "--dev" in st["command"]
    title = ("**Transcription off the training distribution, on the tuning melodies** (other seeds and the next "
             "held-out folk tunes: the pieces the tracker's rules and the model choice were tuned on)" if dev else
             "**Transcription off the training distribution**")
    out = [f"{title} (`{st['command']}`: {st['pieces_per_cell']} pieces per "
           f"cell, {st['metric']}; model {st['model']}; basic-pitch in the same run; OOD melodies from "
           "export/transcription/melodies.py, seeds never trained on):", "",
           "| instrument | " + " | ".join(f"{c}: ours / basic-pitch" for c in conds) + " |",
           "| --- " * (len(conds) + 1) + "|"]
    for inst in next(iter(conds.values())):
        out.append(f"| {inst} | " + " | ".join(f"{conds[c][inst]['ours']['f1']:.3f} / "
                                               f"{conds[c][inst]['basic_pitch']['f1']:.3f}" for c in conds) + " |")
    out += ["", f"Cells at >= 0.90: {s['cells_ours_at_least_0.90']} of {s['cells']}; above basic-pitch: "
                f"{s['cells_ours_above_basic_pitch']} of {s['cells']} (target: every cell, both)"
                + (f"; in the issue's three conditions (the first three columns): {s['issue_cells_at_least_0.90']} and "
                   f"{s['issue_cells_above_basic_pitch']} of {s['issue_cells']}." if "issue_cells" in s else ".")]
    return out


def transcription_duet(d: dict) -> list[str]:
    st, conds, s = d["setup"], d["conditions"], d["summary"]
    out = [f"**Transcription of duets** (`{st['command']}`: every pair of the five instruments, "
           f"{st['pieces_per_pair']} duets each of two {st['seconds']:g}-second seeded melodies (never trained on), "
           f"each voice rendered alone and mixed; {st['metric']}; model {st['model']}; basic-pitch on the same "
           "mixtures):", "",
           "| instrument: attributed onset F1 | " + " | ".join(conds) + " |", "| --- " * (len(conds) + 1) + "|"]
    for inst in next(iter(conds.values()))["per_instrument_attributed"]:
        out.append(f"| {inst} | " + " | ".join(f"{conds[c]['per_instrument_attributed'][inst]['f1']:.3f}"
                                               for c in conds) + " |")
    out.append("| all notes, any instrument: ours / basic-pitch | " + " | ".join(
        f"{conds[c]['instrument_agnostic']['ours']['f1']:.3f} / {conds[c]['instrument_agnostic']['basic_pitch']['f1']:.3f}"
        for c in conds) + " |")
    out += ["", f"Attributed cells at >= 0.80: {s['attributed_cells_at_least_0.80']} of {s['cells']} (worst "
                f"{s['min_attributed_f1']:.3f}); instrument-agnostic above basic-pitch: "
                + ", ".join(f"{f} {'yes' if v else 'no'}" for f, v in s["agnostic_above_basic_pitch"].items())
                + " (targets: >= 0.80 attributed, above basic-pitch)."]
    if "rtf_one_thread" in s:
        r = s["rtf_one_thread"]
        out += ["", f"Speed on one thread, file in -> notes out, on the same {r['audio_seconds']:g} s of duets: RTF "
                    f"{r['ours']:.4f} with {len(r['views_db'])} EQ views ({', '.join(f'{v:+g}' for v in r['views_db'])} dB), "
                    f"basic-pitch {r['basic_pitch']:.4f}: {r['speedup']:.1f}x faster (target RTF <= 0.01)."]
    return out


def transcription_dynamics(d: dict) -> list[str]:
    s, st = d["summary"], d["setup"]
    out = [f"**Transcription dynamics** (`{st['command']}`: {st['melodies']}, 5 instruments, output gains "
           f"{' and '.join(str(g) for g in st['gains'])}; matched = {st['match']}; baseline: the audio's RMS level "
           f"in the 50 ms after each true onset):", "",
           "| soundfont, gain | notes matched | Spearman(true, transcribed velocity) | level baseline | target |",
           "| --- | --- | --- | --- | --- |"]
    for key, v in s.items():
        if isinstance(v, dict):
            out.append(f"| {key} | {v['matched']} | {v['spearman_ours']:.2f} | {v['spearman_level_baseline']:.2f} "
                       f"| >= 0.7 |")
    out += ["", f"Per piece (instrument x soundfont x gain): median {s['median_cell_ours']:.2f}, worst "
                f"{s['min_cell_ours']:.2f} (level baseline median {s['median_cell_level_baseline']:.2f})."]
    return out


def transcription_jack(d: dict) -> list[str]:
    s, st = d["summary"], d["setup"]
    load = st["load_average"][0]
    return [f"**Live transcription over JACK** (`{st['command']}`: a WAV player process -> JACK "
            f"({st['driver']}, {st['period_frames']} frames = {st['period_ms']} ms at {st['rate']} Hz) -> "
            f"`listen jack:<port>`; {st['melodies']} melodies x {len(st['instruments'])} instruments, "
            f"{s['notes']} notes; load average {load:.1f}, JACK lost {s['jack_lost_periods']} periods):", "",
            "| what | over JACK | baseline in the same run | target |", "| --- | --- | --- | --- |",
            f"| true onset -> note-on known, median / p95 / max | {s['latency_ms_median_jack']:.0f} / "
            f"{s['latency_ms_p95_jack']:.0f} / {s['latency_ms_max_jack']:.0f} ms ({s['found_jack']} notes matched) "
            f"| the same audio in-process in blocks of one period: median {s['latency_ms_median_in_process']:.0f} ms "
            f"({s['found_in_process']} notes; JACK adds {s['ratio_jack_vs_in_process']:.2f}x) | <= 100 ms |"]


def cmt(d: dict) -> list[str]:
    s, h, hu, r = d["summary"], d["held_out_controlled"], d["held_out_uncontrolled"], d["random_controlled"]
    hg, rg = d.get("held_out_guided"), d.get("random_guided")
    share = s["bar_4_tracks_share_of_bar_at_120bpm"]
    return [f"**CMT** (`python bench/bench_cmt.py`, model {d['model']}, {h['bars']} bars of "
            f"{h['bars'] // d['curve_bars']} held-out control curves (16-bar stretches of test pieces) and as many "
            f"bars of random curves, {d['threads']} thread; measured = the generated notes re-encoded):", "",
            "| what | controlled (C = 1) | uncontrolled (C = 0) | target |", "| --- | --- | --- | --- |",
            f"| density: Spearman requested vs measured, held-out curves | {h['density_spearman']:.3f} | "
            f"{hu['density_spearman']:.3f} | >= 0.7 |",
            f"| strength: Spearman, held-out curves | {h['strength_spearman']:.3f} | {hu['strength_spearman']:.3f} "
            "| >= 0.7 |",
            f"| density / strength Spearman, random curves over all classes | {r['density_spearman']:.3f} / "
            f"{r['strength_spearman']:.3f} | {d['random_uncontrolled']['density_spearman']:.3f} / "
            f"{d['random_uncontrolled']['strength_spearman']:.3f} | |",
            *([f"| with the rhythm guide (live default): density / strength Spearman, held-out | "
               f"{hg['density_spearman']:.3f} / {hg['strength_spearman']:.3f} | | >= 0.7 |",
               f"| with the guide: density / strength Spearman, random curves | {rg['density_spearman']:.3f} / "
               f"{rg['strength_spearman']:.3f} | | |"] if hg else []),
            f"| density class exact / within 1 (held-out) | {h['density_exact']:.2f} / {h['density_within_1']:.2f} "
            f"| {hu['density_exact']:.2f} / {hu['density_within_1']:.2f} | |",
            f"| notes in their instrument's range | {h['notes_in_instrument_range']:.3f} | "
            f"{hu['notes_in_instrument_range']:.3f} | |",
            f"| durations off the 16th grid | {h['durations_off_grid']} | {hu['durations_off_grid']} | 0 |",
            f"| empty bars where density >= 3 was asked | {h['empty_bars_at_density_3_plus']:.3f} | "
            f"{hu['empty_bars_at_density_3_plus']:.3f} | |",
            f"| one bar of four-part music (>= 4 notes at once), 1 thread, median | {s['bar_4_tracks_ms']:.0f} ms = "
            f"{100 * share:.1f}% of a 4/4 bar at 120 BPM | | <= 5% |" if share is not None else
            "| one bar of four-part music | (no such bar) | | <= 5% |",
            f"| any bar, median / p95 (held-out curves) | {h['bar_ms_median']:.0f} / {h['bar_ms_p95']:.0f} ms, "
            f"{h['tokens_per_bar']:.0f} tokens per bar | | |",
            *([f"| video features ({d['video']['clip']}), DIS / Farneback optical flow | "
               f"{d['video']['dis_x_real_time']:.0f}x / {d['video']['farneback_x_real_time']:.0f}x real time | | >= 4x |"]
              if "video" in d else [])]


def cmt_step(d: dict) -> list[str]:
    out = [f"**CMT token step** (`python bench/bench_cmt_step.py`: {d.get('weights', 'seeded')} weights, d="
           f"{d['model']['d_model']} x {d['model']['n_layers']} layers, {d['model']['params'] / 1e6:.2f} M "
           f"parameters, {d['model']['onnx_mb']:.1f} MB; {d['threads']} thread; the original approach recomputes the "
           "whole sequence for every new token):", "",
           "| position | onnxruntime recurrent step | torch recompute (linear attention) | speed-up | "
           "torch softmax TransformerEncoder recompute | target |", "| --- | --- | --- | --- | --- | --- |"]
    for pos, r in d["positions"].items():
        out.append(f"| {pos} | {r['ort_step_ms']:.2f} ms | {r['torch_recompute_ms']:.0f} ms | "
                   f"{r['speedup_vs_recompute']:.0f}x | {r['torch_softmax_recompute_ms']:.0f} ms | "
                   f"step <= 2 ms{', >= 200x' if pos == '1024' else ''} |")
    out += ["", f"Parallel (training) form vs the exported recurrent step after {max(map(int, d['positions']))} "
                f"tokens: max abs difference {d['max_diff_parallel_vs_step']:.1e}."]
    return out


def soak(d: dict) -> list[str]:
    r, j = d["rss_mb"], d["jack"]
    done = ", ".join(f"{k} {v}" for k, v in sorted(d.get("reloads_done", {}).items()) if v)
    two = "received_b" in d
    sent, a = d["sent"], d["received"]
    b = d.get("received_b", {})
    received = f"A {a['note_on']} / {a['note_off']}" + (f", B {b['note_on']} / {b['note_off']}" if two else "")
    left = f"A {d['notes_left_on_at_receiver']}" + (f", B {d['notes_left_on_at_receiver_b']}" if two else "")
    rows = [f"**Soak** (`python bench/soak.py --minutes {d['minutes']:g} --period {j['period']}`: midime + cmt at "
            f"{d['tempo_bpm']:g} BPM (cmt density 6), {d['param_changes_per_s']:g} parameter changes/s and a "
            f"`/cmt/reload` every {d['reload_every_s']:g} s over OSC, JACK dummy driver {j['rate']} Hz / "
            f"{j['period']} frames ({'realtime' if j['realtime'] else 'non-realtime'}), "
            f"{'two `jack_midi_dump`s as receivers' if two else '`jack_midi_dump` as the receiver'}; baseline: the host's own "
            "recording of what it sent, and its RSS after the first minute):", "",
            "| what | measured | target |", "| --- | --- | --- |",
            f"| note-on / note-off sent (recording) vs received | {sent['note_on']} / {sent['note_off']} vs "
            f"{received} | equal |",
            f"| notes left on at the receiver after SIGTERM | {left} | 0 |"]
    if "jack_periods_missed" in d:
        m = d["jack_periods_missed"]
        rows.append(f"| JACK periods missed: our output client / the receivers / the driver | {m['sender']} / "
                    f"{m['receivers']} / {m['driver']} | |")
    rows += [f"| RSS after the first minute -> end (max) | {r['first_minute']:.0f} -> {r['last']:.0f} MB "
             f"({r['max_after_first_minute']:.0f}), {r['growth_pct']:+.1f}% | < 5% |",
             *([f"| longest silence at the receiver (nothing sounding) | {d['longest_silence_bars']:.3f} bar | "
                "<= 1 bar |"] if "longest_silence_bars" in d else []),
             f"| longest gap between note-ons (a held chord counts) | {d['longest_gap_bars']:.2f} bar | |",
             f"| parameter changes / reloads sent (reloads swapped in) | {d['params_sent']} / {d['reloads_sent']} "
             f"({done}) | |",
             f"| `/cmt/status` (every 5 s) answered within 0.2 s | {d['status_answered']} of {d['status_asked']} | |",
             f"| SIGTERM -> exit | code {d['exit_code']} in {d['exit_s']:.2f} s | 0 within 3 s |"]
    return rows


def flood(d: dict) -> list[str]:
    i, f = d["idle"], d["flood"]
    rows = [f"**Control during an OSC flood** (`python bench/flood_bench.py`: {d.get('received_per_s') or d['rate_per_s']} "
            f"bad datagrams/s received (target rate {d['rate_per_s']}), {d['trials']} trials each, the host playing "
            "the test arpeggiator; baseline: the same controls with no flood, same run):", "",
            "| control | idle p50 / p99 | flood p50 / p99 / max | p99 ratio | target |", "| --- | --- | --- | --- | --- |"]
    for key, what in (("status", "`/cmt/status` -> reply"), ("tempo", "`/cmt/tempo` -> status shows it"),
                      ("stop", "`/cmt/stop` -> status shows nothing playing")):
        rows.append(f"| {what} | {i[key]['p50_ms']:.1f} / {i[key]['p99_ms']:.1f} ms | {f[key]['p50_ms']:.1f} / "
                    f"{f[key]['p99_ms']:.1f} / {f[key]['max_ms']:.1f} ms | {d['p99_ratio_flood_to_idle'][key]:.1f} "
                    "| <= 100 ms |")
    c = d.get("osc_counters") or {}
    rows += ["", f"Counters after the flood: {c.get('received', 0)} received, {c.get('rejected', 0)} rejected "
                 f"({c.get('malformed', 0)} malformed), {c.get('dropped', 0)} dropped, {c.get('suppressed', 0)} "
                 "reports suppressed by the rate limit."]
    return rows


def tagger(d: dict) -> list[str]:
    su = d["setup"]
    out = [f"**Tagger** (`python bench/bench_tagger.py`: {su['data']}; {su['clips']['unseen_font']} + "
           f"{su['clips']['seen_fonts']} clips of 3 s; {su['metric']}; shipped {su['model']}):", "",
           "| Encoder / Model | Batch / steps (wall s) | Fine-tune head | unseen font ROC-AUC | PR-AUC | "
           "seen fonts ROC-AUC | PR-AUC |", "| --- | --- | --- | --- | --- | --- | --- |"]
    tr = d.get("training", {})
    rows = {"CLMR linear": ("log-mel CNN / CLMR", "Linear classifier"),
            "CLMR MLP": ("log-mel CNN / CLMR", "MLP (1 extra hidden layer)"),
            "supervised": ("log-mel CNN (fully supervised)", "MLP (trained end to end)"),
            "shipped (onnx)": ("shipped ONNX model", "-"),
            "floor (log-mel stats + logistic regression)": ("log-mel statistics (floor)", "Logistic regression")}
    for name, r in d["systems"].items():
        enc, head = rows.get(name, (name, "-"))
        t = tr.get(name)
        bs = f"{t['batch']} / {t['steps']} ({t['seconds']:.0f})" if t else "-"
        u, s = r["unseen_font"], r["seen_fonts"]
        out.append(f"| {enc} | {bs} | {head} | {u['macro_roc_auc']:.3f} | {u['macro_pr_auc']:.3f} | "
                   f"{s['macro_roc_auc']:.3f} | {s['macro_pr_auc']:.3f} |")
    mn = d.get("musicnn")
    if mn:
        c = mn["comparison"]["unseen_font"]
        tags = list(c["musicnn zero-shot"]["per_tag"])
        out += ["", f"Against musicnn 0.1.0 (MTT_musicnn, zero-shot, same run, {mn['clips']} clips; unseen font), "
                    "ROC-AUC per shared tag:", "",
                "| tag | " + " | ".join(tags) + " | macro |", "| --- " * (len(tags) + 2) + "|"]
        for name in [k for k in c if k != "musicnn embeddings + logistic regression"]:
            pt = c[name]["per_tag"]
            out.append(f"| {name} | " + " | ".join(f"{pt[t]['roc_auc']:.3f}" if t in pt else "" for t in tags)
                       + f" | {c[name]['macro_roc_auc']:.3f} |")
        pr = c.get("musicnn embeddings + logistic regression")
        if pr:
            out += ["", f"A logistic-regression probe on musicnn's embeddings ({mn['probe_train_clips']} training "
                        f"clips, all 24 tags): macro ROC-AUC {pr['macro_roc_auc']:.3f} on the unseen font."]
    sp = d["speed_one_thread"]
    out += ["", f"One thread: {sp['onnxruntime_ms_per_window']:.2f} ms per 3 s window in onnxruntime (torch eager "
                f"{sp.get('torch_eager_ms_per_window', float('nan')):.2f} ms; the floor's numpy features "
                f"{sp['floor_features_ms_per_window']:.2f} ms), i.e. {sp['ms_per_second_of_audio_hop_1s']:.2f} ms "
                "per second of audio at a 1 s hop (target <= 10 ms)."]
    return out


def visuals(d: dict) -> list[str]:
    su, m = d["setup"], d["summary"]
    lags = sorted(set(m["sync_best_lag_frames"]))
    return [f"**Visuals** (`python bench/bench_visuals.py`: {su['pieces']} held-out generated pieces of about "
            f"{su['seconds']:.0f} s rendered with MuseScore_General, `cmt-bridge visualize` at {su['size']} px "
            f"{su['fps']:.0f} fps as a subprocess; {su['cpus']} cores shared, load average at the end "
            f"{su['load_average'][0]:.1f}):", "",
            "| what | measured | baseline in the same run | target |", "| --- | --- | --- | --- |",
            f"| sync: r(onset strength, frame-to-frame change), median | {m['sync_r_median']:.2f} (lag "
            f"{', '.join(str(x) for x in lags)} frames) | level-driven mapping {m['sync_r_level_baseline_128px_median']:.2f}"
            f" (ours {m['sync_r_ours_128px_median']:.2f} at 128 px: {m['sync_ratio_vs_level_baseline']:.1f}x) | "
            ">= 0.40, lag 0 +- 1 |",
            f"| control: the same with the audio shifted 5 s, median (max) | {m['sync_control_shifted_median']:.2f} "
            f"({m.get('sync_control_shifted_max', float('nan')):.2f}) | another piece's audio: "
            f"{m.get('sync_control_other_piece_median', float('nan')):.2f} | <= 0.10 |",
            f"| distinct: Spearman(embedding distances, image-feature distances), {su['pieces'] * (su['pieces'] - 1) // 2} "
            "pairs | "
            f"{m['distinctness_spearman']:.2f} | | >= 0.5 |",
            f"| closest pair of videos / median pair (feature distance) | {m['closest_pair_feature_distance']:.3f} / "
            f"{m['median_pair_feature_distance']:.3f} | same piece + seed: max pixel difference "
            f"{m['same_piece_same_seed_max_abs_diff']:.1f} | never near-identical |",
            f"| whole video, encode included: real-time factor, median (worst) | {m['video_realtime_factor_median']:.2f}x "
            f"({m['video_realtime_factor_min']:.2f}x); per CPU second (all threads) "
            f"{m.get('video_cpu_realtime_factor_median', float('nan')):.2f}x | MetaMusic about "
            f"{m['metamusic_realtime_factor']}x on a GPU | >= 1.5x |",
            f"| live renderer, 512 x 512, one core | {m['live_fps_512px_one_core']:.0f} fps "
            f"({m.get('live_frames_per_cpu_second', float('nan')):.0f} frames per CPU second) | small ONNX conv decoder "
            f"{m['conv_decoder_fps_512px_one_core']:.1f} fps ({m['live_fps_ratio_vs_conv_decoder']:.1f}x) | >= 30 fps |",
            f"| peak RSS of `visualize` | {m['peak_rss_mb']:.0f} MB | | <= 500 MB |"] + butterchurn_rows(d)


def butterchurn_rows(d: dict) -> list[str]:
    """The visuals peer (butterchurn) as a table row plus a line naming its presets; 'not run' when absent."""
    su, m = d["setup"], d["summary"]
    bc = su.get("butterchurn")
    what = "| sync against the peer: butterchurn (MilkDrop in WebGL) in headless chromium, same audio per frame"
    if not bc or not bc.get("run") or m.get("sync_r_butterchurn_median") is None:
        why = bc.get("reason") if bc else "never run"
        return [f"{what} | ours {m['sync_r_ours_128px_median']:.2f} at 128 px | not run: {why} | beat its median |"]
    per = m["sync_r_butterchurn_presets"]
    ratio = m.get("sync_ratio_vs_butterchurn")
    return [f"{what}, {len(per)} presets at {bc['size_px']} px | ours {m['sync_r_ours_128px_median']:.2f} at 128 px "
            f"({ratio:.1f}x) | butterchurn median {m['sync_r_butterchurn_median']:.2f} (presets "
            f"{' / '.join(f'{r:.2f}' for r in per.values())}; shifted control "
            f"{m['sync_control_shifted_butterchurn_median']:.2f}) | beat its median |", "",
            f"butterchurn {bc['versions']['butterchurn']} with butterchurn-presets "
            f"{bc['versions']['butterchurn-presets']} ({bc['gl_renderer'].split('(')[0].strip() or 'WebGL'} "
            f"SwiftShader, load average {bc['load_average'][0]:.1f}); median r per preset over the pieces: "
            + "; ".join(f"\"{name}\" {r:.2f}" for name, r in per.items()) + "."]


PARTS = (("timing", timing), ("host", host), ("web", web), ("midime", midime), ("midime16", midime16),
         ("transcription", transcription), ("transcription_ood", transcription_ood),
         ("transcription_ood_dev", transcription_ood),
         ("transcription_duet", transcription_duet),
         ("transcription_dynamics", transcription_dynamics),
         ("transcription_jack", transcription_jack),
         ("cmt", cmt), ("cmt_step", cmt_step), ("soak", soak), ("soak_p64", soak), ("flood", flood),
         ("tagger", tagger), ("visuals", visuals))
BLOCK = re.compile(r"(<!-- report: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /report -->)", re.S)


def render(name: str) -> str | None:
    """The markdown of one part (None without its results file)."""
    fn = dict(PARTS)[name]
    d = _load(name)
    return None if d is None else "\n".join(fn(d))


def update_readme(text: str) -> tuple[str, list[str]]:
    """README text -> (the text with every generated block rendered again, the names of the blocks changed)."""
    changed: list[str] = []

    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in dict(PARTS):
            raise SystemExit(f"error: README block {name!r} is not a report part ({', '.join(dict(PARTS))})")
        body = render(name)
        if body is None:
            return m.group(0)
        body += "\n"
        if body != m.group("body"):
            changed.append(name)
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(fill, text), changed


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readme", type=Path, nargs="?", const=Path(__file__).resolve().parent.parent / "README.md",
                    help="rewrite the generated blocks of this README (default the repository's) instead of printing")
    args = ap.parse_args(argv)
    if args.readme:
        text, changed = update_readme(args.readme.read_text())
        args.readme.write_text(text)
        print(f"{args.readme}: " + (f"rewrote {', '.join(changed)}" if changed else "every block was up to date"))
        return
    for name, _ in PARTS:
        body = render(name)
        print(f"({name}: no bench/results/{name}.json yet)\n" if body is None else body + "\n")


if __name__ == "__main__":
    main()

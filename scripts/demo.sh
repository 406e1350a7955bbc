#!/usr/bin/env bash
# make demo: the shipped default models, scripted. Writes into a new folder per run, recordings/demo-<date>-<time>/
# (a second run never meets the first one's files): demo-*.mid, a CMT video score, its tags and demo-run.png.
# Without JACK the live run uses --api none (OSC + recording only); a failing step fails the demo.
set -uo pipefail
cd "$(dirname "$0")/.."
CLI=.venv/bin/cmt-bridge
OUT=recordings/demo-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
say() { echo "demo: $*" >&2; }

jack_pid=""
cleanup() { if [ -n "$jack_pid" ]; then kill "$jack_pid" 2>/dev/null; wait "$jack_pid" 2>/dev/null; fi; }
trap cleanup EXIT INT TERM

# 1. offline: MidiMe samples as MIDI files
if "$CLI" midime sample -n 4 -o "$OUT/demo-samples" --seed 1; then
  say "samples in $OUT/demo-samples/"
else
  say "'midime sample' failed (is the shipped model onnx_models/musicvae-mel2bar there?)"; exit 1
fi

# 2. offline: CMT scores a video (still, slow, then fast motion): multi-track .mid + piano roll (+ audio muxed in)
.venv/bin/python scripts/demo_clip.py "$OUT/demo-clip.mp4" || { say "could not write the demo video"; exit 1; }
render=()
if command -v fluidsynth >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1; then render=(--render "$OUT/demo-clip-music.mp4"); fi
if "$CLI" cmt video2midi "$OUT/demo-clip.mp4" -o "$OUT/demo-video.mid" --bars 6 --seed 1 "${render[@]}"; then
  say "video score: $OUT/demo-video.mid, $OUT/demo-video.png${render:+, $OUT/demo-clip-music.mp4}"
else
  say "'cmt video2midi' failed (is the shipped model onnx_models/cmt there?)"; exit 1
fi

# 2b. offline: the tagger says what the CMT score sounds like (tags per window, a heat map, a sentence)
if [ ${#render[@]} -gt 0 ]; then
  if "$CLI" tag "$OUT/demo-clip-music.mp4" -o "$OUT/demo-tags.json" --picture "$OUT/demo-tags.png"; then
    say "tags: $OUT/demo-tags.json, $OUT/demo-tags.png"
  else
    say "'tag' failed (is the shipped model onnx_models/tagger there?)"; exit 1
  fi
fi

# 3. live: 20 s of the host on a JACK dummy server (no sound card needed), recorded
api=none
if command -v jackd >/dev/null 2>&1; then
  export JACK_DEFAULT_SERVER="cmtbdemo$$"
  jackd --no-realtime -n "$JACK_DEFAULT_SERVER" -d dummy -r 48000 -p 256 >"$OUT/demo-jackd.log" 2>&1 &
  jack_pid=$!
  for _ in $(seq 50); do jack_lsp >/dev/null 2>&1 && { api=jack; break; }; sleep 0.1; done
fi
[ "$api" = jack ] || say "no JACK server: running with --api none (OSC + recording only)"
if "$CLI" run --api "$api" --seconds "${DEMO_SECONDS:-20}" --play midime --play cmt \
    --set midime.channel=6 --record "$OUT/demo-run.mid"; then
  "$CLI" pianoroll "$OUT/demo-run.mid" -o "$OUT/demo-run.png" --title "cmt-bridge demo: midime + cmt, 20 s" \
    && say "piano roll: $OUT/demo-run.png"
else
  say "the live run failed (see the message above)"; exit 1
fi
ls -l "$OUT" >&2

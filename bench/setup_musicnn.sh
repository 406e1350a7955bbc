#!/usr/bin/env bash
# Bench-only environment for the musicnn 0.1.0 peer (TensorFlow, ~2 GB; never a project dependency).
# Usage: bash bench/setup_musicnn.sh [VENV]   (default /work/.bench-musicnn, or $MUSICNN_VENV)
# Recipe (DESIGN.md, "Peers to measure against"): tensorflow-cpu 2.21 + tf-keras 2.21, musicnn without its
# deps (its metadata pins an old numpy); run with TF_USE_LEGACY_KERAS=1 (bench/musicnn_runner.py does).
set -euo pipefail
VENV="${1:-${MUSICNN_VENV:-/work/.bench-musicnn}}"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "tensorflow-cpu==2.21.0" "tf-keras==2.21.*" librosa soundfile numpy
"$VENV/bin/pip" install -q --no-deps "musicnn==0.1.0"
TF_USE_LEGACY_KERAS=1 "$VENV/bin/python" -c "import musicnn, tensorflow as tf; print('musicnn ok, tf', tf.__version__)"

#!/usr/bin/env bash
# One-command set-up on Debian/Ubuntu (idempotent; a second run does nothing):
#   system packages (when root and missing), .venv, cmt-bridge with its extras.
# macOS: brew install jack liblo pure-data fluid-synth ffmpeg; then run this script (apt part is skipped).
# Windows: py -m venv .venv && .venv\Scripts\pip install torch==2.13.0 && .venv\Scripts\pip install -e ".[train,dev]"
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_PIN="torch==2.13.0"
EXTRAS=${CMT_BRIDGE_EXTRAS:-train,dev,link,jack}
APT_PACKAGES=(jackd2 liblo-tools puredata-core fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small ffmpeg nodejs chromium libegl1 libgl1-mesa-dri)
# the transcription models' other training soundfonts (opl3 alone is a 100 MB download): only to retrain them,
#   CMT_BRIDGE_TRAINING_FONTS=1 bash scripts/setup.sh
if [ "${CMT_BRIDGE_TRAINING_FONTS:-0}" = 1 ]; then
  APT_PACKAGES+=(csound-soundfont opl3-soundfont fluidr3mono-gm-soundfont)
fi

say() { echo "setup: $*" >&2; }

# --- system packages ---------------------------------------------------------
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  command -v make >/dev/null 2>&1 || missing+=(make)
  "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
fi
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing system packages: ${missing[*]} -- install them with: sudo apt-get install -y ${missing[*]}"
    say "(the tests that need them are skipped until then)"
  fi
fi

# --- virtual environment -----------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv .venv
fi
PY=.venv/bin/python
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || {
  say "cmt-bridge needs Python >= 3.10 (have $("$PY" --version 2>&1)); set PYTHON=python3.11"; exit 1; }

# torch first and pinned: the train extra's range must not pull another build (e.g. CUDA wheels)
if [[ ",$EXTRAS," == *",train,"* ]]; then
  if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('torch').split('+')[0] != '2.13.0')" >/dev/null 2>&1; then
    say "installing $TORCH_PIN"
    "$PY" -m pip install -q "$TORCH_PIN"
  fi
fi

# the package itself (editable), re-run only when pyproject.toml changed
stamp=.venv/.cmt-bridge-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! "$PY" -c "import bridge.cli" >/dev/null 2>&1 \
   || [ ! -x .venv/bin/cmt-bridge ] || [ "$(cat "$stamp" 2>/dev/null)" != "$EXTRAS" ]; then
  say "installing cmt-bridge[$EXTRAS] (editable)"
  "$PY" -m pip install -q -e ".[$EXTRAS]" "$TORCH_PIN"
  echo "$EXTRAS" > "$stamp"
fi
say "ready: $(.venv/bin/cmt-bridge --help >/dev/null && echo 'cmt-bridge installed') in .venv"

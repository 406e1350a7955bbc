#!/usr/bin/env bash
# Bench-only install of the butterchurn peer (bench/bench_visuals.py; never a project dependency):
# npm packages pinned in bench/peers/butterchurn/package.json (butterchurn 2.6.7, butterchurn-presets 2.4.7,
# MIT) into bench/peers/butterchurn/node_modules (git-ignored). The browser is Debian's /usr/bin/chromium
# (apt package chromium, driven by the dev extra's playwright; never `playwright install`).
# Usage: bash bench/setup_butterchurn.sh
set -euo pipefail
cd "$(dirname "$0")/peers/butterchurn"
command -v npm >/dev/null || { echo "setup_butterchurn: npm is missing (apt-get install npm)" >&2; exit 1; }
[ -x /usr/bin/chromium ] || echo "setup_butterchurn: /usr/bin/chromium is missing (apt-get install chromium)" >&2
npm install --no-audit --no-fund --ignore-scripts
node -e "const p=require('./node_modules/butterchurn/package.json'), q=require('./node_modules/butterchurn-presets/package.json'); console.log('butterchurn', p.version, '+ presets', q.version, 'ok')"

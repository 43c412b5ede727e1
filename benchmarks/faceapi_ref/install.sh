#!/usr/bin/env bash
# Install the tfjs reference runtime of `python -m benchmarks.port_check_faceapi` from the npm
# registry, exactly as package-lock.json pins it (face-api 1.7.15, tfjs 4.22.0; pure
# JavaScript + WebAssembly, no native download). node_modules is never committed. Skips the
# install while node_modules is newer than the lock file. Needs Node.js 18+ and npm.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.brandmood-installed
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is not installed (Node.js 18+ with npm)" >&2; exit 1; }
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
touch "$stamp"

#!/usr/bin/env bash
# Create (or reuse) the benchmark-only virtual environment with the `fer` library and TensorFlow.
#
# brandmood itself never imports TensorFlow; only the peer benchmarks (peer_fer.py,
# peer_accuracy.py, port_check_keras.py) run inside this venv, as subprocesses.
#
#   bash benchmarks/peer_env.sh            # prints the venv's python path on the last line
#   PEER_VENV=/elsewhere bash benchmarks/peer_env.sh
#
# The venv lives in brandmood's cache (`peer-venv`; benchmarks/peer_common.py passes PEER_VENV,
# and by hand the default below is the settings table's: BRANDMOOD_CACHE, else
# $XDG_CACHE_HOME/brandmood, else ~/.cache/brandmood).
#
# Idempotent: a venv whose marker matches the pinned requirements is reused as-is.
# Note: fer 25.10.3 declares `tensorflow>=2.0.0`, which `tensorflow-cpu` does not satisfy by
# name, so fer and facenet-pytorch (whose metadata pins torch<2.3) are installed with --no-deps
# and their real run-time dependencies are listed here explicitly.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BRANDMOOD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/brandmood}"
[[ -n "${BRANDMOOD_CACHE:-}" || "${XDG_CACHE_HOME:-/}" == /* ]] || CACHE="$HOME/.cache/brandmood"
VENV="${PEER_VENV:-$CACHE/peer-venv}"
PYTHON="${PEER_PYTHON:-$(command -v python3.11 || true)}"
PIP_FLAGS=(-q --disable-pip-version-check)

TF_REQ="${PEER_TF_REQ:-tensorflow-cpu}"
DEPS=(
  "torch==2.14.1" "torchvision==0.29.1" "setuptools<80"
  "opencv-contrib-python-headless" "pandas" "requests" "tqdm>=4.62.1" "matplotlib"
  "ffmpeg-python>=0.2.0" "Pillow" "h5py"
)
NODEPS=("fer==25.10.3" "facenet-pytorch==2.5.3")
SPEC="v1 ${TF_REQ} ${DEPS[*]} ${NODEPS[*]}"
MARKER="$VENV/.brandmood-peer-ready"

if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$SPEC" && -x "$VENV/bin/python" ]]; then
  echo "$VENV/bin/python"
  exit 0
fi

if [[ -z "$PYTHON" ]]; then
  echo "peer_env.sh: python3.11 not found (set PEER_PYTHON)" >&2
  exit 1
fi

echo "peer_env.sh: building $VENV (TensorFlow, fer, torch; several minutes)..." >&2
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install "${PIP_FLAGS[@]}" --upgrade pip >&2
# torch first and alone: its pinned version decides the rest.
"$VENV/bin/python" -m pip install "${PIP_FLAGS[@]}" "torch==2.14.1" "torchvision==0.29.1" >&2
if ! "$VENV/bin/python" -m pip install "${PIP_FLAGS[@]}" "$TF_REQ" "${DEPS[@]}" >&2; then
  echo "peer_env.sh: $TF_REQ failed; trying tensorflow" >&2
  "$VENV/bin/python" -m pip install "${PIP_FLAGS[@]}" tensorflow "${DEPS[@]}" >&2
fi
"$VENV/bin/python" -m pip install "${PIP_FLAGS[@]}" --no-deps "${NODEPS[@]}" >&2

# Smoke test: torch/torchvision must be imported before TensorFlow (else torchvision segfaults).
"$VENV/bin/python" - >&2 <<'EOF'
import torch, torchvision  # noqa: F401  (must come before TensorFlow)
import tensorflow as tf
from fer.fer import FER
FER(mtcnn=True)
print("peer venv ok: tensorflow", tf.__version__, "torch", torch.__version__)
EOF
echo "$SPEC" > "$MARKER"
echo "$VENV/bin/python"

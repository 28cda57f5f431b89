#!/usr/bin/env bash
# Creates .venv in the package root with torch + diffusers for the diffusers engine
# (`npm run setup:gpu`). The server finds .venv/bin/python on its own; ZIMAGE_PYTHON overrides.
# Environment: PYTHON (interpreter to build the venv from, default python3),
# TORCH_INDEX_URL (extra package index for a specific CUDA build of torch).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"

say() { printf '==> %s\n' "$*"; }

if ! command -v "$PY" >/dev/null 2>&1; then
  echo "error: $PY not found; install Python 3.10 or newer (or set PYTHON=/path/to/python3)" >&2
  exit 1
fi
say "using $("$PY" --version 2>&1) at $(command -v "$PY")"
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "error: diffusers needs Python 3.10 or newer" >&2
  exit 1
fi

if [ -x "$VENV/bin/python" ]; then
  say "reusing $VENV"
else
  say "creating $VENV ($PY -m venv .venv)"
  "$PY" -m venv "$VENV"
fi

say "upgrading pip"
"$VENV/bin/python" -m pip install --upgrade pip

EXTRA=()
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  say "using $TORCH_INDEX_URL for torch"
  EXTRA=(--extra-index-url "$TORCH_INDEX_URL")
fi
say "installing python/requirements.txt into .venv (torch, diffusers, transformers, accelerate: several GB)"
"$VENV/bin/pip" install ${EXTRA[@]+"${EXTRA[@]}"} -r "$ROOT/python/requirements.txt"

say "checking the environment (python/probe.py ${ZIMAGE_DEVICE:-cuda})"
REPORT="$("$VENV/bin/python" "$ROOT/python/probe.py" "${ZIMAGE_DEVICE:-cuda}")"
echo "$REPORT"
# Missing packages mean the install failed; a missing GPU may just mean this is not the GPU machine.
echo "$REPORT" | "$VENV/bin/python" -c '
import json, sys
r = json.load(sys.stdin)
if not (r.get("torch") and r.get("diffusers") and r.get("has_zimage")):
    sys.exit("error: torch or diffusers with ZImagePipeline is still missing; see the pip output above")
if not r.get("device_ok"):
    print("warning: device %s is not usable here (%s); set ZIMAGE_DEVICE or run on a GPU machine"
          % (r.get("device"), "; ".join(r.get("errors") or []) or "torch.cuda.is_available() is false"))
'

cat <<MSG
==> done. Start the server with the real model:
      ZIMAGE_ENGINE=diffusers npm start
    The first start downloads Tongyi-MAI/Z-Image-Turbo (about 33 GB) into the Hugging Face
    cache (HF_HOME, default ~/.cache/huggingface); later starts load it from there, offline too.
MSG

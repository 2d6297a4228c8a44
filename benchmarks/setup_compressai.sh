#!/usr/bin/env bash
# Create benchmarks/.venv-compressai: a separate virtual environment holding CompressAI,
# used only by `python benchmarks/codec.py --compressai` (through
# benchmarks/_compressai_timing.py). CompressAI is never a dependency of neurcomp.
#
# CompressAI 1.2.x pulls torch + torchvision and pins numpy<2. On x86_64 we first install
# torch 2.14.1 / torchvision 0.29.1 (a matching pair: a PyPI torchvision built for another
# torch fails to import) and then CompressAI under a constraint that keeps that pair, so
# pip does not fetch a second torch. The torch wheel is a CUDA build (~5.5 GB venv); it
# runs on CPU.
#
# Usage (from anywhere):  bash benchmarks/setup_compressai.sh [PYTHON]
#   PYTHON   interpreter for the venv (default: python3)
#   TORCH=2.14.1 TORCHVISION=0.29.1 override the pinned pair.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-compressai"
py="${1:-python3}"
torch_v="${TORCH:-2.14.1}"
tv_v="${TORCHVISION:-0.29.1}"

if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check)

constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
if [ "$(uname -m)" = "x86_64" ]; then
    "${pip[@]}" "torch==$torch_v" "torchvision==$tv_v"
    printf 'torch==%s\ntorchvision==%s\n' "$torch_v" "$tv_v" > "$constraints"
fi
"${pip[@]}" --constraint "$constraints" compressai

"$venv/bin/python" - <<'PY'
import compressai, torch, torchvision
from compressai.models import MeanScaleHyperprior
print(f"ok: compressai {compressai.__version__}, torch {torch.__version__}, torchvision {torchvision.__version__}")
PY
echo "created $venv"

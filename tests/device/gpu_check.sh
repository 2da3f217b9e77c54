#!/usr/bin/env bash
# The real-GPU check of hpcdl.gpu on a Linux machine with an NVIDIA GPU and no network: cuda_compat
# against the real driver (CUDA 12.4, 13.0 and one newer than the driver), the framework check and
# the gpu_bench workload on the GPU, each figure as a fraction of the published peak (H200 SXM),
# everything in one output folder. gpu_check.py beside this file does it and says how.
#   tests/device/fetch_wheels.sh                      # here, where PyPI answers: ansible-core's wheels
#   tests/device/gpu_check.sh --out "$OUT" --wheels tests/device/wheels    # there
# Without a GPU it stops after cuda_compat with "no NVIDIA GPU here" and status 3; --dry-run only
# checks the arguments and the pieces. It runs with the Python given by --python (default python3),
# the one that has PyTorch.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=python3
previous=""
for arg in "$@"; do
  case "$arg" in
    --python=*) python=${arg#--python=} ;;
    *) if [ "$previous" = --python ]; then python=$arg; fi ;;
  esac
  previous=$arg
done
if ! command -v "$python" >/dev/null 2>&1; then
  echo "gpu_check: --python $python: no such program" >&2
  exit 2
fi
exec "$python" "$here/gpu_check.py" "$@"

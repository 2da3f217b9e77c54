#!/usr/bin/env bash
# Download the wheels tests/device/gpu_check.sh carries to a GPU machine with no network:
# requirements.txt beside this file (ansible-core and its needs, for CPython 3.12 on Linux x86_64),
# each checked against its sha256 there. Run it here, where PyPI answers, before the device run:
#   tests/device/fetch_wheels.sh [DEST]        (default: tests/device/wheels, git-ignored)
# then name tests/device/wheels in the device tool's `carry` (about 10 MB).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest=${1:-$here/wheels}
python=${PYTHON:-python3}
rm -rf "$dest.partial"
mkdir -p "$dest.partial"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip download -q --no-input --no-deps --require-hashes \
  --only-binary :all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -r "$here/requirements.txt" -d "$dest.partial"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "fetch_wheels: $(find "$dest" -name '*.whl' | wc -l) wheels, $(du -sh "$dest" | cut -f1), in $dest"

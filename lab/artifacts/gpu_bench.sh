#!/bin/bash
# Lab artifact: the image the lab's gpu_bench runs its workload in (the lab has no GPU: PyTorch's
# CPU build), made from the lab's base image like jupyter.sh makes the notebook's.
#   gpu_bench.sh OUTDIR -> OUTDIR/gpu_bench.tar.gz (`docker save` of hpcdl-lab/gpu-bench:1, gzipped),
#                          gpu_bench.tar.gz.sha256 (sha256sum format)
# Needs LAB_BASE_IMAGE (the tag `lab.py image` prints; lab.py passes it) and LAB_ENGINE.
# The wheels are downloaded here, hash-checked against gpu_bench/requirements.txt (regenerate
# it with gpu_bench/relock.py): torch 2.13.0+cpu from the wheel on this machine's disk
# (TORCH_WHEEL_DIR, default /opt/wheels; PyPI has no CPU build, and a machine without the wheel
# fails here rather than fetch PyPI's CUDA build of several GB), its pure-Python needs from PyPI.
# The base image's files are unpacked here and the wheels installed into them offline (pip
# --target; this machine's CPython 3.11 has the image's ABI) at
# /usr/local/lib/python3.11/dist-packages, which Debian's python3 reads, then imported as one
# layer, so that a node's dockerd on the vfs driver copies it once: no build container, no network
# from inside. Dropped from torch: its C++ test programs (torch/test, and torch/bin but for
# torch_shm_manager, which `import torch` needs), headers and CMake files (torch/include,
# torch/share), about 180 MB that no Python program loads.
# No torchvision: PyPI's builds do not load beside this torch ("operator torchvision::nms does
# not exist"); the workload has its own ResNet-50. No numpy (torch warns once that it is
# missing; the workload does not use it). User `bench` (1000:100), working dir /tmp.
set -euo pipefail
out=${1:?usage: gpu_bench.sh OUTDIR}
engine=${LAB_ENGINE:-docker}
base=${LAB_BASE_IMAGE:?set LAB_BASE_IMAGE to the lab base image tag (lab.py image prints it)}
wheels_dir=${TORCH_WHEEL_DIR:-/opt/wheels}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lock=$here/gpu_bench/requirements.txt
image=hpcdl-lab/gpu-bench:1
ctr=hpcdl-lab-gpu-bench-base-$$
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  "$engine" rm -f "$ctr" >/dev/null 2>&1 || true
  "$engine" image rm -f "$image" >/dev/null 2>&1 || true
}
trap cleanup EXIT
root=$work/rootfs
site=$root/usr/local/lib/python3.11/dist-packages
mkdir -p "$out" "$work/wheels" "$root"
"$engine" create --name "$ctr" "$base" true >/dev/null
"$engine" export "$ctr" | tar -C "$root" -x --numeric-owner
"$engine" rm "$ctr" >/dev/null
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
python3 -m pip download -q --require-hashes --no-deps --only-binary :all: --find-links "$wheels_dir" \
  -r "$lock" -d "$work/wheels"
mkdir -p "$site"
python3 -m pip install -q --no-index --find-links "$work/wheels" --require-hashes --no-deps \
  --only-binary :all: --target "$site" -r "$lock"
find "$site/torch/bin" -mindepth 1 -maxdepth 1 ! -name torch_shm_manager -exec rm -rf {} +
rm -rf "$site/bin" "$site/torch/test" "$site/torch/include" "$site/torch/share"
useradd --root "$root" --uid 1000 --gid 100 --home-dir /home/bench --create-home --shell /bin/bash bench
tar --numeric-owner -C "$root" -c . | "$engine" import \
  --change 'USER bench' \
  --change 'WORKDIR /tmp' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'LABEL org.opencontainers.image.title="hpcdl-lab gpu_bench (PyTorch 2.13.0, CPU build)"' \
  --change 'CMD ["python3"]' \
  - "$image" >/dev/null
"$engine" run --rm --network none "$image" python3 -W ignore -c \
  'import torch; x = torch.ones(64, 64); assert int((x @ x).sum()) == 64 ** 3; print("image has torch", torch.__version__)'
# gzip -1: 920 MB becomes about 300 MB in some 20 s, once (the archive is cached), which the nodes then
# download three times faster through the lab's userspace WireGuard; docker load reads it as it is.
"$engine" save "$image" | gzip -1 >"$out/gpu_bench.tar.gz"
chmod 0644 "$out/gpu_bench.tar.gz"
(cd "$out" && sha256sum gpu_bench.tar.gz > gpu_bench.tar.gz.sha256)

#!/bin/bash
# Lab artifact: a TEST stand-in for the vendor's VPN.tar.gz (the seed's VPN/VPN-ECS/run4centos6.sh,
# run4centos7.sh and VPN/VPN-HPC/run.sh), with a real tunnel inside (lab/artifacts/vpn/VPN/lib:
# UDP over /dev/net/tun, Python standard library only) and the interface vpn_vpn0.
#   vpn.sh OUTDIR  ->  OUTDIR/VPN.tar.gz, VPN.tar.gz.sha256 (sha256sum format), and
#                      VPN-corrupt.tar.gz (the same bytes with one flipped: a download gone bad)
set -euo pipefail
out=${1:?usage: vpn.sh OUTDIR}
src=$(cd "$(dirname "$0")/vpn" && pwd)
mkdir -p "$out"
# Reproducible: same sources, same bytes.
tar --sort=name --mtime=2017-04-19 --owner=0 --group=0 --numeric-owner -C "$src" -cf - VPN \
  | gzip -n -9 > "$out/VPN.tar.gz"
(cd "$out" && sha256sum VPN.tar.gz > VPN.tar.gz.sha256)
python3 - "$out" <<'PY'
import sys, pathlib
out = pathlib.Path(sys.argv[1])
data = bytearray((out / "VPN.tar.gz").read_bytes())
data[len(data) // 2] ^= 0xFF
(out / "VPN-corrupt.tar.gz").write_bytes(bytes(data))
PY

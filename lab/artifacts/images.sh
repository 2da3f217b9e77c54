#!/bin/bash
# Lab artifact: a tiny image archive for air-gapped nodes, made from Debian's busybox-static
# (no registry: apt-get download, dpkg-deb -x into a rootfs, docker import, docker save).
#   images.sh OUTDIR -> OUTDIR/busybox.tar (`docker save` of hpcdl-lab/busybox:1),
#                       busybox.tar.sha256 (sha256sum format), and busybox-corrupt.tar (the
#                       same bytes with one flipped: a download gone bad)
# The image's command prints "Hello from the hpcdl lab!" (a hello-world stand-in).
set -euo pipefail
out=${1:?usage: images.sh OUTDIR}
engine=${LAB_ENGINE:-docker}
image=hpcdl-lab/busybox:1
work=$(mktemp -d)
trap 'rm -rf "$work"; "$engine" image rm -f "$image" >/dev/null 2>&1 || true' EXIT
mkdir -p "$out" "$work/rootfs"
(cd "$work" && apt-get download -q -o APT::Sandbox::User=root busybox-static >/dev/null)
dpkg-deb -x "$work"/busybox-static_*.deb "$work/rootfs"
for applet in sh echo cat env true ls; do
  ln -sf busybox "$work/rootfs/bin/$applet"
done
rm -rf "$work/rootfs/usr/share"
tar --sort=name --mtime=2017-04-19 --owner=0 --group=0 --numeric-owner -C "$work/rootfs" -cf - . \
  | "$engine" import --change 'CMD ["/bin/busybox", "echo", "Hello from the hpcdl lab!"]' - "$image" >/dev/null
"$engine" save -o "$out/busybox.tar" "$image"
chmod 0644 "$out/busybox.tar"
(cd "$out" && sha256sum busybox.tar > busybox.tar.sha256)
python3 - "$out" <<'PY'
import sys, pathlib
out = pathlib.Path(sys.argv[1])
data = bytearray((out / "busybox.tar").read_bytes())
data[len(data) // 2] ^= 0xFF
(out / "busybox-corrupt.tar").write_bytes(bytes(data))
PY

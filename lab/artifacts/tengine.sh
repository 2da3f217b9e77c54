#!/bin/bash
# Lab artifact: a source tarball for the tengine role. Tengine's own site and GitHub cannot be
# reached from here, so the lab serves nginx's source from Debian's archive instead (Tengine is an
# nginx fork with the same ./configure; make; make install path into /usr/local/nginx).
#   tengine.sh OUTDIR  ->  OUTDIR/nginx_1.22.1.orig.tar.gz, nginx_1.22.1.orig.tar.gz.sha256
#                          (sha256sum format), and nginx-corrupt.tar.gz (one byte flipped: a
#                          download gone bad, for the role's checksum test)
# apt runs with a private configuration (its own sources file, lists and cache under a temporary
# folder): /etc/apt and the host's package state are never touched. The mirror is the one this
# machine's apt already uses. The tarball is checked against the Checksums-Sha256 of the .dsc
# (which apt itself checked against the signed Sources index).
set -euo pipefail
out=${1:?usage: tengine.sh OUTDIR}
version=${HPCDL_LAB_NGINX_VERSION:-1.22.1}
suite=${HPCDL_LAB_SUITE:-bookworm}
tarball="nginx_${version}.orig.tar.gz"

mirror=${HPCDL_LAB_MIRROR:-}
if [ -z "$mirror" ]; then
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    mirror=$(awk -v s="$suite" '
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
      /^$/ { if (u != "" && ok) { print u; exit } u = ""; ok = 0 }
      END { if (u != "" && ok) print u }' "$f" | head -n 1)
    [ -n "$mirror" ] && break
  done
fi
if [ -z "$mirror" ] && [ -e /etc/apt/sources.list ]; then
  mirror=$(awk -v s="$suite" '$1 == "deb" && $3 == s { print $2; exit }' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
  "$mirror" "$suite" > "$work/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "Debug::NoLocking=true"
  -o "APT::Sandbox::User=root"
)
apt-get "${apt_opts[@]}" -q update >&2
(cd "$work/src" && apt-get "${apt_opts[@]}" -q source --download-only "nginx=${version}-*" >&2) \
  || (cd "$work/src" && apt-get "${apt_opts[@]}" -q source --download-only nginx >&2)

dsc=$(find "$work/src" -maxdepth 1 -name "nginx_${version}-*.dsc" | head -n 1)
[ -f "$work/src/$tarball" ] || { echo "tengine.sh: apt did not fetch $tarball" >&2; exit 1; }
expected=$(awk -v f="$tarball" '
  /^Checksums-Sha256:/ { on = 1; next }
  /^[^ ]/ { on = 0 }
  on && $3 == f { print $1 }' "$dsc")
actual=$(sha256sum "$work/src/$tarball" | cut -d' ' -f1)
if [ -z "$expected" ] || [ "$expected" != "$actual" ]; then
  echo "tengine.sh: $tarball has sha256 $actual, the .dsc says '${expected}'" >&2
  exit 1
fi
mkdir -p "$out"
cp "$work/src/$tarball" "$out/$tarball"
(cd "$out" && sha256sum "$tarball" > "$tarball.sha256")
python3 - "$out/$tarball" "$out/nginx-corrupt.tar.gz" <<'PY'
import sys, pathlib
data = bytearray(pathlib.Path(sys.argv[1]).read_bytes())
data[len(data) // 2] ^= 0xFF
pathlib.Path(sys.argv[2]).write_bytes(bytes(data))
PY
echo "tengine.sh: $tarball verified against $(basename "$dsc") (sha256 $actual), from $mirror" >&2

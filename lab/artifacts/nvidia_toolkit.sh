#!/bin/bash
# Lab artifact: an apt repository laid out like NVIDIA's (libnvidia-container/stable/deb/amd64)
# holding a TEST build of nvidia-container-toolkit (nvidia-ctk and nvidia-container-runtime as
# small scripts, lab/artifacts/nvidia_toolkit/pkg), signed with a test key made here.
#   nvidia_toolkit.sh OUTDIR -> OUTDIR/gpgkey (armored public key), gpgkey.fingerprint,
#                               stable/deb/amd64/{*.deb,Packages,Packages.gz,Release,Release.gpg,InRelease}
# Debian tools only (dpkg-deb, dpkg-scanpackages, gpg); the key lives only for this build.
set -euo pipefail
out=${1:?usage: nvidia_toolkit.sh OUTDIR}
src=$(cd "$(dirname "$0")/nvidia_toolkit" && pwd)
version=1.17.8-1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The package.
pkg=$work/pkg
install -d "$pkg/DEBIAN" "$pkg/usr/bin"
for tool in nvidia-ctk nvidia-container-runtime; do
  sed "s/@VERSION@/${version%-*}/" "$src/pkg/$tool" > "$pkg/usr/bin/$tool"
  chmod 0755 "$pkg/usr/bin/$tool"
done
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: nvidia-container-toolkit
Version: $version
Architecture: amd64
Maintainer: hpcdl lab <lab@hpcdl.invalid>
Depends: python3
Section: utils
Priority: optional
Description: TEST build of the NVIDIA container toolkit (hpcdl lab)
 nvidia-ctk and nvidia-container-runtime as small scripts; the runtime hands
 containers to runc (or to the lab's capability-trimming wrapper when installed).
CONTROL
repo=$out/stable/deb/amd64
install -d "$repo"
SOURCE_DATE_EPOCH=1492560000 dpkg-deb --root-owner-group -Zgzip --build "$pkg" \
  "$repo/nvidia-container-toolkit_${version}_amd64.deb" >/dev/null

# The repository index (a flat repository, as NVIDIA's: `deb URL/stable/deb/amd64 /`).
(cd "$repo" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null > Packages && gzip -9nk Packages)
{
  echo "Origin: hpcdl-lab"
  echo "Label: hpcdl-lab nvidia-container-toolkit TEST"
  echo "Date: $(LC_ALL=C date -u -R)"
  echo "SHA256:"
  for f in Packages Packages.gz; do
    printf ' %s %s %s\n' "$(sha256sum "$repo/$f" | cut -d' ' -f1)" "$(stat -c %s "$repo/$f")" "$f"
  done
} > "$repo/Release"

# A test signing key, made for this build only.
export GNUPGHOME=$work/gnupg
install -d -m 0700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key \
  "hpcdl lab TEST key for nvidia-container-toolkit <lab@hpcdl.invalid>" rsa3072 sign never 2>/dev/null
gpg --batch --quiet --armor --export 2>/dev/null > "$out/gpgkey"
gpg --batch --with-colons --list-keys 2>/dev/null | awk -F: '$1 == "fpr" {print $10; exit}' > "$out/gpgkey.fingerprint"
gpg --batch --quiet --yes --armor --detach-sign -o "$repo/Release.gpg" "$repo/Release"
gpg --batch --quiet --yes --clearsign -o "$repo/InRelease" "$repo/Release"

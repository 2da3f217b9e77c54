#!/bin/bash
# Lab artifact: a CUDA-like apt repository laid out like NVIDIA's
# (https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/, a flat repository
# "deb URL /"), signed by a TEST key this recipe generates. Built with Debian tools only
# (dpkg-deb, apt-ftparchive from apt-utils, gpg). Served by the lab's internet host as
# http://<internet>/cuda/..., so `cuda_repo_mirror: http://<internet>/cuda` replaces NVIDIA's
# https://developer.download.nvidia.com/compute/cuda everywhere.
#
#   cuda.sh OUTDIR  ->  OUTDIR/repos/debian12/x86_64/ (and the same files, hard-linked, as debian11 and
#                       debian13: the lab's nodes of those releases, `lab.py up --os`)
#                         cuda-toolkit-12-2_12.2.140-1_amd64.deb, cuda-toolkit-12-4_12.4.131-1_amd64.deb
#                         nvidia-fabricmanager-580_580.82.07-1_amd64.deb, nvidia-fabricmanager-580_580.95.05-1_amd64.deb
#                         Packages(.gz), Release, InRelease, Release.gpg (signed by the test key)
#                         hpcdl-lab-cuda.pub (the test key, armored), hpcdl-lab-cuda.fpr (its fingerprint)
#                       OUTDIR/tampered/repos/debian12/x86_64/
#                         the same, except that cuda-toolkit-12-4 was swapped for another build and
#                         Packages/Release regenerated after signing: InRelease and Release.gpg are
#                         the genuine signatures, which no longer match (BADSIG), so apt must refuse it.
# Each toolkit package installs /usr/local/cuda-X.Y/version.json (date-stamped top level, as NVIDIA's
# since 12.x, with cuda_cudart and cuda_nvcc) and /usr/local/cuda-X.Y/bin/nvcc, a shell script that
# prints the real `nvcc --version` of that release. Each nvidia-fabricmanager-580 installs a stand-in
# nv-fabricmanager (it prints "Fabric Manager version is : <version>", and runs only while
# /proc/driver/nvidia/version names exactly its version, as NVIDIA's refuses a driver of another
# version) and an nvidia-fabricmanager.service. No NVIDIA software is in here.
set -euo pipefail
out=${1:?usage: cuda.sh OUTDIR}
src=$(cd "$(dirname "$0")/cuda" && pwd)

if ! command -v apt-ftparchive >/dev/null; then
  echo "cuda.sh: installing apt-utils (apt-ftparchive)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends apt-utils >&2
fi
for tool in dpkg-deb gpg; do
  command -v "$tool" >/dev/null || { echo "cuda.sh: $tool is missing" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'gpgconf --homedir "$work/gnupg" --kill all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
export GNUPGHOME="$work/gnupg"
install -d -m 0700 "$GNUPGHOME"
uid="hpcdl lab CUDA repository (TEST KEY, not NVIDIA) <cuda-repo@lab.invalid>"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
  --quick-generate-key "$uid" ed25519 sign never
fpr=$(gpg --batch --with-colons --list-secret-keys | awk -F: '/^fpr:/ {print $10; exit}')

# build_toolkit DESTDIR MAJOR MINOR BUILD DATE BUILT_ON COMPILER [EXTRA]
build_toolkit() {
  local dest=$1 major=$2 minor=$3 build=$4 date=$5 built_on=$6 compiler=$7 extra=${8:-}
  local ver="$major.$minor" pkg="cuda-toolkit-$major-$minor" root="$work/pkg-$major-$minor$extra"
  local prefix="$root/usr/local/cuda-$ver"
  rm -rf "$root"
  install -d "$root/DEBIAN" "$prefix/bin" "$prefix/lib64"
  sed -e "s/@MAJOR@/$major/g; s/@MINOR@/$minor/g; s/@BUILD@/$build/g; s/@DATE@/$date/g" \
    "$src/version.json.in" > "$prefix/version.json"
  sed -e "s/@MAJOR@/$major/g; s/@MINOR@/$minor/g; s/@BUILD@/$build/g; s/@BUILT_ON@/$built_on/g;" \
      -e "s/@COMPILER@/$compiler/g; s/@YEAR@/${date:0:4}/g; s/@EXTRA@/$extra/g" \
    "$src/nvcc.in" > "$prefix/bin/nvcc"
  chmod 0755 "$prefix/bin/nvcc"
  cat > "$root/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $ver.$build-1
Architecture: amd64
Maintainer: hpcdl lab <cuda-repo@lab.invalid>
Section: devel
Priority: optional
Description: CUDA Toolkit $ver (hpcdl lab stand-in)
 A TEST package for the hpcdl.gpu lab: version.json and an nvcc that only prints
 its version, laid out as NVIDIA's cuda-toolkit-$major-$minor installs them.
CONTROL
  find "$root" -exec touch -h -d "$date" {} +
  dpkg-deb --root-owner-group -Zxz --build "$root" "$dest/${pkg}_$ver.$build-1_amd64.deb" >/dev/null
}

# build_fabricmanager DESTDIR VERSION: nvidia-fabricmanager-<branch> at VERSION, as NVIDIA's
# packages are named and versioned (the branch in the name, the driver's version as its version).
build_fabricmanager() {
  local dest=$1 version=$2 branch=${2%%.*}
  local pkg="nvidia-fabricmanager-$branch" root="$work/fm-$version"
  rm -rf "$root"
  install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system"
  sed -e "s/@VERSION@/$version/g" "$src/nv-fabricmanager.in" > "$root/usr/bin/nv-fabricmanager"
  chmod 0755 "$root/usr/bin/nv-fabricmanager"
  install -m 0644 "$src/nvidia-fabricmanager.service" "$root/lib/systemd/system/nvidia-fabricmanager.service"
  cat > "$root/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version-1
Architecture: amd64
Maintainer: hpcdl lab <cuda-repo@lab.invalid>
Section: utils
Priority: optional
Description: NVIDIA Fabric Manager $version (hpcdl lab stand-in)
 A TEST package for the hpcdl.gpu lab: nv-fabricmanager prints its version and runs only
 when the loaded driver has exactly that version, as NVIDIA's does. No NVIDIA software.
CONTROL
  find "$root" -exec touch -h -d 20250923 {} +
  dpkg-deb --root-owner-group -Zxz --build "$root" "$dest/${pkg}_${version}-1_amd64.deb" >/dev/null
}

index_and_sign() {
  local repo=$1
  (cd "$repo" &&
    apt-ftparchive packages . > Packages &&
    gzip -9nk Packages &&
    apt-ftparchive -o APT::FTPArchive::Release::Origin="hpcdl lab" \
      -o APT::FTPArchive::Release::Label="hpcdl lab CUDA (TEST)" \
      -o APT::FTPArchive::Release::Architectures=amd64 release . > "$work/Release" &&
    mv "$work/Release" Release &&
    gpg --batch --yes --local-user "$fpr" --clearsign -o InRelease Release &&
    gpg --batch --yes --local-user "$fpr" -abs -o Release.gpg Release)
}

good="$out/repos/debian12/x86_64"
install -d "$good"
build_toolkit "$good" 12 2 140 20230823 Tue_Aug_15_22:02:13_PDT_2023 33191640_0
build_toolkit "$good" 12 4 131 20240328 Thu_Mar_28_02:18:24_PDT_2024 34097967_0
# Fabric Manager of two releases of one driver branch (the cuda scenario's driver update).
build_fabricmanager "$good" 580.82.07
build_fabricmanager "$good" 580.95.05
index_and_sign "$good"
gpg --batch --armor --export "$fpr" > "$good/hpcdl-lab-cuda.pub"
echo "$fpr" > "$good/hpcdl-lab-cuda.fpr"
# NVIDIA publishes one repository per release (repos/debian11/, debian12/, debian13/); the lab's
# packages fit each (they depend on nothing), so every release's path serves the same signed files.
for other in debian11 debian13; do
  install -d "$out/repos/$other"
  cp -al "$good" "$out/repos/$other/x86_64"
done

# The tampered copy: the same signatures over indexes that no longer match them.
bad="$out/tampered/repos/debian12/x86_64"
install -d "$bad"
cp -p "$good"/*.deb "$good"/hpcdl-lab-cuda.pub "$good"/hpcdl-lab-cuda.fpr "$bad"/
build_toolkit "$bad" 12 4 131 20240328 Thu_Mar_28_02:18:24_PDT_2024 34097967_0 -tampered
index_and_sign "$bad"
# Put the genuine signatures back over the new indexes: the clearsigned InRelease keeps its
# header and signature around the new Release text, Release.gpg is the genuine detached one.
{
  sed -n '1,/^$/p' "$good/InRelease"
  sed 's/^-/- -/' "$bad/Release"
  sed -n '/^-----BEGIN PGP SIGNATURE-----$/,$p' "$good/InRelease"
} > "$work/InRelease"
mv "$work/InRelease" "$bad/InRelease"
cp -p "$good/Release.gpg" "$bad/Release.gpg"
gpg --batch --quiet --verify "$good/Release.gpg" "$good/Release" 2>/dev/null
if gpg --batch --quiet --verify "$bad/Release.gpg" "$bad/Release" 2>/dev/null ||
   gpg --batch --quiet --verify "$bad/InRelease" 2>/dev/null; then
  echo "cuda.sh: the tampered repository still verifies: the test would prove nothing" >&2
  exit 1
fi

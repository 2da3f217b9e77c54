#!/bin/bash
# Build the lab's base image: Debian 12 with systemd, sshd and Python, imported into the local
# container engine as "$1". No registry is needed (none can be reached on the machines this runs
# on): debootstrap fetches packages from the Debian mirror in "$2".
# Called by lab/lab.py, which tags the image with a hash of this folder so that the image is
# rebuilt only when this recipe changes.
set -euo pipefail
image=$1
mirror=$2
engine=${LAB_ENGINE:-docker}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /var/tmp/hpcdl-lab-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

packages=python3,python3-apt,sudo,openssh-server,iproute2,iputils-ping,curl,ca-certificates,systemd,systemd-sysv,dbus,iptables,procps,kmod,gnupg,less,dnsmasq-base
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  echo "debootstrap from $mirror failed (log above)" >&2
  exit 1
}

# Files of our own (units, sshd settings), then the customisation script inside the chroot.
cp -a "$here/files/." "$rootfs/"
chroot "$rootfs" /bin/bash -s <"$here/customize.sh"

tar --numeric-owner -C "$rootfs" -c . | "$engine" import \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=docker' \
  --change "LABEL hpcdl.lab.recipe=${image##*:}" \
  - "$image" >/dev/null
echo "built $image"

#!/bin/bash
# Build one of the lab's base images: Debian release "$3" (bookworm, the default; trixie; bullseye)
# with systemd, sshd and Python, imported into the local container engine as "$1". No registry is
# needed (none can be reached on the machines this runs on): debootstrap fetches packages from the
# Debian mirror in "$2".
# Called by lab/lab.py, which tags the image with a hash of this folder so that the image is
# rebuilt only when this recipe changes.
set -euo pipefail
image=$1
mirror=$2
suite=${3:-bookworm}
engine=${LAB_ENGINE:-docker}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /var/tmp/hpcdl-lab-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

packages=python3,python3-apt,sudo,openssh-server,iproute2,iputils-ping,curl,ca-certificates,systemd,systemd-sysv,dbus,iptables,procps,kmod,gnupg,less,dnsmasq-base
init='"/sbin/init"'
case $suite in
  bookworm) ;;
  # Debian 11 still ships the seed-era interpreter (the seed's CentOS 7 runs Python 2.7): ansible-core
  # 2.16, the last controller that manages Python 2.7, runs the collection's modules with it.
  bullseye) packages=$packages,python2.7 ;;
  # systemd 257 refuses a cgroup v1 host unless told otherwise; in a container it reads its own
  # command line as the kernel's (systemd's proc_cmdline()), and the flag changes nothing on cgroup v2.
  trixie) init='"/sbin/init", "SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1"' ;;
  *) echo "unknown Debian release $suite (bookworm, trixie, bullseye)" >&2; exit 2 ;;
esac
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  echo "debootstrap from $mirror failed (log above)" >&2
  exit 1
}

# Files of our own (units, sshd settings), then the customisation script inside the chroot.
cp -a "$here/files/." "$rootfs/"
chroot "$rootfs" /bin/bash -s <"$here/customize.sh"

tar --numeric-owner -C "$rootfs" -c . | "$engine" import \
  --change "CMD [$init]" \
  --change 'ENV container=docker' \
  --change "LABEL hpcdl.lab.recipe=${image##*:}" \
  --change "LABEL hpcdl.lab.release=$suite" \
  - "$image" >/dev/null
echo "built $image"

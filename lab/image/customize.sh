# Runs inside the lab image's chroot (bash -s). Keeps the image small and makes systemd and sshd
# behave in a container.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# Host keys are made per container at first boot (lab-ssh-hostkeys.service), never shared.
rm -f /etc/ssh/ssh_host_*
systemctl enable ssh.service lab-ssh-hostkeys.service lab-www.service lab-dns.service >/dev/null 2>&1

# Units that have no place in a container.
systemctl mask systemd-udevd.service systemd-udevd-kernel.socket systemd-udevd-control.socket \
  getty@tty1.service console-getty.service systemd-logind.service \
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
  systemd-remount-fs.service systemd-firstboot.service >/dev/null 2>&1

# Each container gets its own machine id at boot.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id

install -d -m 0700 /root/.ssh
apt-get clean
rm -rf /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
# Old list timestamps: a role's `apt: update_cache: true, cache_valid_time: N` must really update.
find /var/lib/apt/lists -type f -exec touch -d '2000-01-01' {} +

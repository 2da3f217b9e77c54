#!/bin/bash
# hpcdl lab TEST VPN: install the tunnel as a systemd service and wait for its interface.
# start.sh server|client ARGS... (called by the run scripts beside it)
set -euo pipefail
mode=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
install -D -m 0755 "$here/hpcdl_test_vpn.py" /usr/local/lib/hpcdl-test-vpn/hpcdl_test_vpn.py
unit=hpcdl-test-vpn-$mode.service
cat > /etc/systemd/system/$unit <<UNIT
[Unit]
Description=hpcdl lab TEST VPN ($mode)
After=network-online.target

[Service]
ExecStart=/usr/bin/python3 /usr/local/lib/hpcdl-test-vpn/hpcdl_test_vpn.py $mode $*
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable "$unit" >/dev/null 2>&1
systemctl restart "$unit"
iface=$1
for _ in $(seq 50); do
  ip link show dev "$iface" >/dev/null 2>&1 && { echo "$iface is up"; exit 0; }
  sleep 0.2
done
echo "$iface did not come up: systemctl status $unit" >&2
exit 1

#!/bin/bash
# hpcdl lab TEST VPN, jump host (ECS) side: the tunnel's server on UDP 1194, address 10.78.0.1.
# The vendor's script of the same name targets CentOS 6; this one runs wherever systemd and
# python3 do. Forwarding and NAT are the jump_vpn role's job, as with the vendor's bundle.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../lib/start.sh" server vpn_vpn0 10.78.0.1/24 1194

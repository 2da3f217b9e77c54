#!/bin/bash
# hpcdl lab TEST VPN, HPC node side: ./run.sh <jump private ip> [tunnel address/prefix]
# Without a tunnel address the node takes 10.78.0.<last octet of its address towards the jump>.
# Routing (the default route through vpn_vpn0) is left to the hpc_vpn role.
set -euo pipefail
jump=${1:?usage: run.sh <jump private ip> [tunnel address/prefix]}
here=$(cd "$(dirname "$0")" && pwd)
src=$(ip -4 -o route get "$jump" | sed -n 's/.* src \([0-9.]*\).*/\1/p')
address=${2:-10.78.0.${src##*.}/24}
exec "$here/../lib/start.sh" client vpn_vpn0 "$address" "$jump" 1194

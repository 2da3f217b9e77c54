#!/usr/bin/env python3
"""hpcdl lab TEST VPN: a real (tiny) layer-3 tunnel over UDP and /dev/net/tun.

It stands in for the vendor's VPN.tar.gz in the lab, with the same layout and the same
`vpn_*` interface name; it is test data, not a VPN to trust (no encryption, no authentication
beyond a magic header). Python 3 standard library only, so a node without internet runs it.

    hpcdl_test_vpn.py server IFACE ADDRESS/PREFIX PORT
    hpcdl_test_vpn.py client IFACE ADDRESS/PREFIX SERVER_IP PORT

The server learns each client's UDP address from the client's hello (every 5 s) and data
packets, keyed by the client's tunnel address, and writes what it receives into its tun
device; the kernel routes (and NATs) from there.
"""
import fcntl
import os
import select
import socket
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAGIC = b"HPCDLVPN1"
HELLO, DATA = b"H", b"D"
MTU = 1400


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def configure(name, cidr):
    subprocess.run(["ip", "addr", "replace", cidr, "dev", name], check=True)
    subprocess.run(["ip", "link", "set", "dev", name, "mtu", str(MTU), "up"], check=True)


def main(argv):
    mode, name, cidr = argv[1], argv[2], argv[3]
    own = socket.inet_aton(cidr.split("/")[0])
    tun = open_tun(name)
    configure(name, cidr)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peers = {}  # tunnel address (4 bytes) -> UDP address
    if mode == "server":
        sock.bind(("0.0.0.0", int(argv[4])))
        server = None
    else:
        server = (argv[4], int(argv[5]))
    last_hello = 0.0
    print(f"hpcdl test vpn: {mode} {name} {cidr} up", flush=True)
    while True:
        if server and time.monotonic() - last_hello > 5:
            sock.sendto(MAGIC + HELLO + own, server)
            last_hello = time.monotonic()
        ready, _, _ = select.select([tun, sock], [], [], 1.0)
        if tun in ready:
            packet = os.read(tun, 65535)
            if len(packet) >= 20 and packet[0] >> 4 == 4:
                target = server or peers.get(packet[16:20])
                if target:
                    sock.sendto(MAGIC + DATA + packet, target)
        if sock in ready:
            data, addr = sock.recvfrom(65535)
            if not data.startswith(MAGIC):
                continue
            kind, body = data[len(MAGIC):len(MAGIC) + 1], data[len(MAGIC) + 1:]
            if server is None and kind == HELLO and len(body) == 4:
                peers[body] = addr
            elif kind == DATA and len(body) >= 20:
                if server is None:
                    peers[body[12:16]] = addr
                os.write(tun, body)


if __name__ == "__main__":
    main(sys.argv)

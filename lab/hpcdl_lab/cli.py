"""The command line: engine, image, up, down, status, inventory, wipe, upstream (see `lab/lab.py --help`)."""
import argparse
import json
import os
import sys

from . import __doc__ as PACKAGE_DOC
from .common import LabError, say
from .connection import write_inventory
from .engine import engine_ready, ensure_engine, privileged_runtime
from .image import RELEASES, ensure_image
from .topology import Lab, node_releases


def parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name", default=os.environ.get("HPCDL_LAB", "demo"),
                        help="the lab's name (default: $HPCDL_LAB or 'demo')")
    top = argparse.ArgumentParser(prog="lab", description=PACKAGE_DOC.split("\n\n", maxsplit=1)[0])
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("engine", parents=[common], help="install/start the engine if needed and probe it")
    sub.add_parser("image", parents=[common], help="build the base image if its recipe changed")
    p_up = sub.add_parser("up", parents=[common], help="bring a lab up (idempotent)")
    p_up.add_argument("--gpus", type=int, default=int(os.environ.get("HPCDL_LAB_GPUS", "1")))
    p_up.add_argument("--inventory", help="also write the generated inventory here")
    p_up.add_argument("--os", action="append", metavar="[NODE=]RELEASE",
                      default=[os.environ["HPCDL_LAB_OS"]] if os.environ.get("HPCDL_LAB_OS") else [],
                      help=f"a gpu node's Debian release ({', '.join(RELEASES)}; bookworm by default), "
                           "for every gpu node (trixie) or one (gpu2=bullseye); repeat it or separate "
                           "with commas (default: $HPCDL_LAB_OS)")
    sub.add_parser("down", parents=[common], help="remove the lab: containers, networks, rules, state")
    sub.add_parser("status", parents=[common], help="print the lab's state as JSON")
    p_wipe = sub.add_parser("wipe", parents=[common],
                            help="replace a gpu node by a bare one (same address, new host key), as a re-rented node")
    p_wipe.add_argument("host", help="the gpu node, for example gpu1")
    sub.add_parser("upstream", parents=[common],
                   help="print, as JSON, the bytes that crossed to upstream so far (internet host, jump's outside)")
    p_inv = sub.add_parser("inventory", parents=[common], help="write the generated inventory to a path")
    p_inv.add_argument("path")
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        lab = Lab(args.name)
        if args.command == "engine":
            ensure_engine()
            privileged_runtime(ensure_image())
        elif args.command == "image":
            ensure_engine()
            ensure_image()
        elif args.command == "up":
            if args.gpus < 1:
                raise LabError("--gpus must be 1 or more")
            state = lab.up(args.gpus, node_releases(args.os, args.gpus))
            if args.inventory:
                write_inventory(lab, state, args.inventory)
        elif args.command == "down":
            if engine_ready():
                lab.down()
            else:
                say("no container engine answers: nothing to take down")
        elif args.command == "status":
            print(json.dumps(lab.load_state(), indent=2))
        elif args.command == "wipe":
            lab.load_state()  # a lab that is not up is said before the engine is asked
            ensure_engine()
            print(json.dumps(lab.wipe(args.host), indent=2))
        elif args.command == "upstream":
            print(json.dumps(lab.upstream(), indent=2))
        elif args.command == "inventory":
            write_inventory(lab, lab.load_state(), args.path)
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 1
    return 0

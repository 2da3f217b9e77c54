#!/usr/bin/env python3
"""The hpcdl.gpu lab: containers on this machine that play the seed's world.

    internet  public network only; serves the lab's artifacts over HTTP and the egress probe page
    jump      public + private network; sshd; the controller reaches it directly
    gpuN      private network only; sshd + systemd; reached only through jump (ProxyCommand)

One definition of this topology (this file) serves the demo (`make demo`) and every Molecule
scenario (their create/destroy playbooks call `up`/`down` with the scenario's name). Each lab
has a name; its state (SSH key, known_hosts, generated inventory, artifact folder) lives in
.lab/<name>/, which `down` removes along with every container, network and host firewall rule
the lab added.

Standard library only. Commands: engine, image, up, down, status, inventory.
"""
import argparse
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB_DIR = Path(__file__).resolve().parent
LAB_HOME = Path(os.environ.get("HPCDL_LAB_HOME", ROOT / ".lab"))
ENGINE = os.environ.get("HPCDL_LAB_ENGINE", "docker")
IMAGE_REPO = "hpcdl-lab-base"
LABEL = "hpcdl.lab"
WRAPPER_NAME = "hpcdl-lab-runc"
WRAPPER_PATH = Path("/usr/local/libexec") / WRAPPER_NAME
DAEMON_JSON = Path("/etc/docker/daemon.json")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def say(message):
    print(f"lab: {message}", flush=True)


class LabError(Exception):
    """A failure the user can act on; printed without a traceback."""


def run(args, check=True, capture=True, **kwargs):
    proc = subprocess.run(args, text=True, capture_output=capture, check=False, **kwargs)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip() if capture else ""
        raise LabError(f"`{' '.join(map(str, args))}` failed ({proc.returncode}): {detail}")
    return proc


def engine(*args, check=True):
    return run([ENGINE, *args], check=check)


# --------------------------------------------------------------------------- engine bootstrap
def engine_ready():
    return shutil.which(ENGINE) and engine("info", "--format", "{{.ID}}", check=False).returncode == 0


def ensure_engine():
    """Install and start the container engine if it is missing; return once `info` answers."""
    if engine_ready():
        return
    if ENGINE != "docker":
        raise LabError(f"{ENGINE} does not answer `{ENGINE} info`; start it and try again.")
    if not Path("/usr/sbin/dockerd").exists() and not shutil.which("dockerd"):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise LabError("Docker is not installed: install docker.io (or Docker CE) and run again.")
        say("Docker is not installed: installing Debian's docker.io package")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-q"], env=env)
        run(["apt-get", "install", "-y", "-q", "docker.io"], env=env)
    if Path("/run/systemd/system").is_dir():
        say("starting docker.service")
        run(["systemctl", "start", "docker"])
    else:
        LAB_HOME.mkdir(parents=True, exist_ok=True)
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        say(f"no systemd here: starting {dockerd} in the background (log: {LAB_HOME}/dockerd.log)")
        log = open(LAB_HOME / "dockerd.log", "ab")  # noqa: SIM115 - handed to the daemon
        subprocess.Popen([dockerd], stdout=log, stderr=log, start_new_session=True)
    for _attempt in range(120):
        if engine_ready():
            return
        time.sleep(0.5)
    raise LabError(f"the container engine did not answer within 60 s; see {LAB_HOME}/dockerd.log")


def _daemon_pid():
    proc = run(["pidof", "dockerd"], check=False)
    return int(proc.stdout.split()[0]) if proc.returncode == 0 and proc.stdout.split() else None


def _register_wrapper():
    """Install the capability-trimming runtime and register it with dockerd (not as default)."""
    WRAPPER_PATH.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(LAB_DIR / "engine" / WRAPPER_NAME, WRAPPER_PATH)
    WRAPPER_PATH.chmod(0o755)
    config = {}
    if DAEMON_JSON.exists() and DAEMON_JSON.read_text().strip():
        try:
            config = json.loads(DAEMON_JSON.read_text())
        except ValueError as exc:
            raise LabError(f"{DAEMON_JSON} is not valid JSON ({exc}); fix it and run again.") from exc
    runtimes = config.setdefault("runtimes", {})
    if runtimes.get(WRAPPER_NAME, {}).get("path") != str(WRAPPER_PATH):
        runtimes[WRAPPER_NAME] = {"path": str(WRAPPER_PATH)}
        DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
        if DAEMON_JSON.exists():
            shutil.copy2(DAEMON_JSON, DAEMON_JSON.with_name("daemon.json.hpcdl-lab.bak"))
        DAEMON_JSON.write_text(json.dumps(config, indent=2) + "\n")
        pid = _daemon_pid()
        if pid is None:
            raise LabError("registered the runtime wrapper but found no dockerd to reload.")
        os.kill(pid, 1)  # SIGHUP: dockerd reloads its runtimes without restarting containers
        for _attempt in range(40):
            if WRAPPER_NAME in engine("info", "--format", "{{json .Runtimes}}").stdout:
                break
            time.sleep(0.25)


def privileged_runtime(image):
    """Probe --privileged; return extra `run` arguments (a runtime) that make it work here."""
    probe = engine("run", "--rm", "--privileged", image, "true", check=False)
    if probe.returncode == 0:
        return []
    if ENGINE != "docker" or "unable to apply caps" not in probe.stderr:
        raise LabError(f"privileged containers do not start here: {probe.stderr.strip()}")
    say("privileged containers fail here (this host's capability bounding set lacks a capability "
        "Docker asks for): using the lab's runtime wrapper " + WRAPPER_NAME + " for lab containers")
    _register_wrapper()
    args = ["--runtime", WRAPPER_NAME]
    probe = engine("run", "--rm", "--privileged", *args, image, "true", check=False)
    if probe.returncode != 0:
        raise LabError(f"privileged containers fail even with {WRAPPER_NAME}: {probe.stderr.strip()}")
    return args


# --------------------------------------------------------------------------- base image
def recipe_hash():
    digest = hashlib.sha256()
    image_dir = LAB_DIR / "image"
    for path in sorted(p for p in image_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(image_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def host_mirror():
    """The Debian mirror this machine's apt uses (so the image builds where apt works)."""
    if os.environ.get("HPCDL_LAB_MIRROR"):
        return os.environ["HPCDL_LAB_MIRROR"]
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        uris = suites = None
        for line in path.read_text().splitlines():
            if line.startswith("URIs:"):
                uris = line.split()[1]
            if line.startswith("Suites:"):
                suites = line.split()[1:]
        if uris and suites and "bookworm" in suites:
            return uris
    listfile = Path("/etc/apt/sources.list")
    if listfile.exists():
        for line in listfile.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == "bookworm":
                return parts[1]
    return DEFAULT_MIRROR


def ensure_image():
    tag = f"{IMAGE_REPO}:{recipe_hash()}"
    if engine("image", "inspect", tag, check=False).returncode == 0:
        say(f"base image {tag} is up to date (cached)")
        return tag
    if not shutil.which("debootstrap"):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise LabError("debootstrap is needed to build the lab's base image: install it.")
        say("installing debootstrap (builds the lab's base image without a registry)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-q"], env=env)
        run(["apt-get", "install", "-y", "-q", "debootstrap"], env=env)
    mirror = host_mirror()
    say(f"building base image {tag} from {mirror} (about 75 s; cached afterwards)")
    started = time.monotonic()
    run(["bash", str(LAB_DIR / "image" / "build-rootfs.sh"), tag, mirror],
        env=dict(os.environ, LAB_ENGINE=ENGINE))
    say(f"built {tag} in {time.monotonic() - started:.0f} s")
    return tag


# --------------------------------------------------------------------------- artifacts
def build_artifacts(base_image):
    """Run each lab/artifacts/<name>.sh once per version of its recipe; return the outputs.

    A recipe is called as `<name>.sh OUTDIR` and writes what the internet host serves under
    /<name>/ (a test VPN bundle, source tarballs, package repositories, image archives).
    Every recipe gets LAB_ENGINE and LAB_BASE_IMAGE (the base image's tag) in its environment.
    Outputs are cached in .lab/cache/ by the hash of the recipe and of lab/artifacts/<name>/,
    and of the base image's tag for recipes that use LAB_BASE_IMAGE.
    """
    recipes = sorted((LAB_DIR / "artifacts").glob("*.sh"))
    outputs = []
    cache = LAB_HOME / "cache" / "artifacts"
    cache.mkdir(parents=True, exist_ok=True)
    # Several labs may come up at once (parallel scenarios): one builder at a time.
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for recipe in recipes:
            outputs.append(_build_artifact(recipe, cache, base_image))
    return outputs


def _build_artifact(recipe, cache, base_image):
    name = recipe.stem
    text = recipe.read_bytes()
    digest = hashlib.sha256(text)
    if b"LAB_BASE_IMAGE" in text:
        digest.update(f"base image {base_image}".encode())
    extra = LAB_DIR / "artifacts" / name
    if extra.is_dir():
        for path in sorted(p for p in extra.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(extra)).encode())
            digest.update(path.read_bytes())
    out = cache / f"{name}-{digest.hexdigest()[:12]}" / name
    if not out.is_dir():
        say(f"building lab artifact {name!r} ({recipe.relative_to(ROOT)})")
        started = time.monotonic()
        tmp = out.with_name(name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        run(["bash", str(recipe), str(tmp)],
            env=dict(os.environ, LAB_ENGINE=ENGINE, LAB_BASE_IMAGE=base_image))
        tmp.rename(out)
        say(f"built lab artifact {name!r} in {time.monotonic() - started:.0f} s")
    return out


def _link_or_copy(src, dst):
    """Hard link (artifacts are large and several labs serve the same ones), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


# --------------------------------------------------------------------------- topology
class Lab:
    def __init__(self, name):
        if not name.replace("-", "").replace("_", "").isalnum():
            raise LabError(f"lab name {name!r}: use letters, digits, '-' and '_' only")
        self.name = name
        self.dir = LAB_HOME / name
        short = hashlib.sha256(name.encode()).hexdigest()[:8]
        self.public_net = f"hpcdl-{name}-public"
        self.private_net = f"hpcdl-{name}-private"
        self.private_bridge = f"hlp{short}"  # fixed name (<= 15 chars) for the host rules
        self.key = self.dir / "id_ed25519"
        self.state_file = self.dir / "state.json"

    def container(self, host):
        return f"hpcdl-{self.name}-{host}"

    def hosts(self, gpus):
        return ["internet", "jump"] + [f"gpu{i}" for i in range(1, gpus + 1)]

    def labels(self, *extra):
        args = ["--label", f"{LABEL}={self.name}"]
        for item in extra:
            args += ["--label", item]
        return args

    # -- host firewall rules ------------------------------------------------------------------
    def host_rules(self):
        comment = ["-m", "comment", "--comment", f"hpcdl-lab:{self.name}"]
        return [
            # Docker drops traffic that a container routes between hosts of an internal network
            # (jump doing NAT for the gpu nodes) unless the host lets it through.
            ("DOCKER-USER", ["-i", self.private_bridge, "-o", self.private_bridge, *comment, "-j", "ACCEPT"]),
            # The host can reach an internal network through its bridge: an honest bastion lab
            # forbids that, so the controller reaches the gpu nodes only through jump.
            ("OUTPUT", ["-o", self.private_bridge, *comment, "-j", "DROP"]),
        ]

    def add_rules(self):
        for chain, spec in self.host_rules():
            if run(["iptables", "-C", chain, *spec], check=False).returncode != 0:
                run(["iptables", "-I", chain, *spec])

    def remove_rules(self):
        for chain, spec in self.host_rules():
            while run(["iptables", "-C", chain, *spec], check=False).returncode == 0:
                run(["iptables", "-D", chain, *spec])

    # -- lifecycle -------------------------------------------------------------------------------
    def ensure_networks(self):
        existing = set(engine("network", "ls", "--format", "{{.Name}}").stdout.split())
        if self.public_net not in existing:
            engine("network", "create", *self.labels(), self.public_net)
        if self.private_net not in existing:
            engine("network", "create", "--internal", *self.labels(),
                   "-o", f"com.docker.network.bridge.name={self.private_bridge}", self.private_net)

    def running(self, host):
        proc = engine("inspect", "--format", "{{.State.Running}}", self.container(host), check=False)
        return proc.returncode == 0 and proc.stdout.strip() == "true"

    def start(self, host, image, runtime_args):
        name = self.container(host)
        if self.running(host):
            return False
        engine("rm", "-f", name, check=False)
        networks = {"internet": [self.public_net], "jump": [self.public_net, self.private_net]}
        nets = networks.get(host, [self.private_net])
        args = [
            "run", "-d", "--name", name, "--hostname", host, "--network", nets[0],
            *self.labels(f"{LABEL}.host={host}"),
            "--privileged", *runtime_args, "--cgroupns=host", "--stop-signal", "SIGRTMIN+3",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
        ]
        if host == "internet":
            args += ["-v", f"{self.dir / 'www'}:/srv/www:ro"]
        engine(*args, image, "/sbin/init")
        for extra in nets[1:]:
            engine("network", "connect", extra, name)
        return True

    def wait_ready(self, host):
        name = self.container(host)
        for _attempt in range(120):
            proc = engine("exec", name, "systemctl", "is-active", "ssh.service", check=False)
            if proc.stdout.strip() == "active":
                return
            time.sleep(0.5)
        raise LabError(f"{host}: sshd did not start within 60 s (docker logs {name})")

    def use_lab_dns(self, host, internet_ip):
        """A gpu node resolves names through the internet host: only once it has egress."""
        engine("exec", self.container(host), "sh", "-c",
               'printf "nameserver %s\\n" "$1" > /etc/resolv.conf', "sh", internet_ip)

    def authorize(self, host):
        pub = (self.dir / "id_ed25519.pub").read_text()
        script = ("install -d -m 0700 /root/.ssh && "
                  "printf '%s' \"$1\" > /root/.ssh/authorized_keys && chmod 0600 /root/.ssh/authorized_keys")
        engine("exec", self.container(host), "sh", "-c", script, "sh", pub)

    def address(self, host, network):
        fmt = "{{(index .NetworkSettings.Networks \"" + network + "\").IPAddress}}"
        return engine("inspect", "--format", fmt, self.container(host)).stdout.strip()

    def write_www(self, base_image):
        """The internet host's document root: the probe page and every built artifact.

        Artifacts are hard-linked from the cache where it shares a filesystem with the lab's
        folder (the Jupyter image archive is a few hundred MB), and copied otherwise.
        """
        www = self.dir / "www"
        www.mkdir(parents=True, exist_ok=True)
        for built in build_artifacts(base_image):
            target = www / built.name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(built, target, copy_function=_link_or_copy)
        token = hashlib.sha256(f"{self.name}:{time.time()}".encode()).hexdigest()[:16]
        probe = www / "probe.html"
        if not probe.exists():
            probe.write_text(f"hpcdl-lab egress probe {token}\n")
        return probe.read_text().split()[-1]

    def up(self, gpus):
        started = time.monotonic()
        ensure_engine()
        image = ensure_image()
        runtime_args = privileged_runtime(image)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "cp").mkdir(exist_ok=True)
        if not self.key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"hpcdl-lab-{self.name}",
                 "-f", str(self.key)])
        token = self.write_www(image)
        self.ensure_networks()
        self.add_rules()
        wanted = self.hosts(gpus)
        stale = [h for h in self.existing_hosts() if h not in wanted]
        for host in stale:
            engine("rm", "-f", self.container(host))
        created = [h for h in wanted if self.start(h, image, runtime_args)]
        for host in wanted:
            self.wait_ready(host)
            self.authorize(host)
        state = {
            "name": self.name,
            "image": image,
            "runtime_args": runtime_args,
            "probe_token": token,
            "dir": str(self.dir),
            "key": str(self.key),
            "private_bridge": self.private_bridge,
            "hosts": {
                "internet": {"public_ip": self.address("internet", self.public_net)},
                "jump": {"public_ip": self.address("jump", self.public_net),
                         "private_ip": self.address("jump", self.private_net)},
            },
        }
        for host in wanted[2:]:
            state["hosts"][host] = {"private_ip": self.address(host, self.private_net)}
            self.use_lab_dns(host, state["hosts"]["internet"]["public_ip"])
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")
        self.write_ssh_files(state)
        self.wait_ssh(state)
        verb = "created " + ", ".join(created) if created else "all hosts were already up"
        say(f"lab {self.name!r} is up in {time.monotonic() - started:.1f} s ({verb})")
        return state

    def existing_hosts(self):
        proc = engine("ps", "-a", "--filter", f"label={LABEL}={self.name}",
                      "--format", f'{{{{.Label "{LABEL}.host"}}}}', check=False)
        return [h for h in proc.stdout.split() if h]

    def down(self):
        proc = engine("ps", "-aq", "--filter", f"label={LABEL}={self.name}", check=False)
        ids = proc.stdout.split()
        if ids:
            engine("rm", "-f", "-v", *ids)
        nets = engine("network", "ls", "-q", "--filter", f"label={LABEL}={self.name}", check=False)
        for net in nets.stdout.split():
            engine("network", "rm", net)
        if shutil.which("iptables"):
            self.remove_rules()
        # ssh ControlPersist masters of this lab would outlive it: stop them.
        cp_dir = self.dir / "cp"
        if cp_dir.is_dir():
            for sock in cp_dir.iterdir():
                run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "lab"], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        say(f"lab {self.name!r} is down ({len(ids)} containers removed)")

    # -- generated connection files -------------------------------------------------------------
    def ssh_options(self):
        return [
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={self.dir / 'known_hosts'}",
            "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=10",
        ]

    def proxy_command(self, state):
        jump = state["hosts"]["jump"]["public_ip"]
        opts = " ".join(self.ssh_options())
        return f"ssh -F none {opts} -i {self.key} -W %h:%p root@{jump}"

    def write_ssh_files(self, state):
        """ssh_config for people and testinfra, inventory for Ansible; both say the same."""
        known = self.dir / "known_hosts"
        known.touch()
        lines = [f"# Generated by lab/lab.py for lab {self.name!r}; `ssh -F {self.dir}/ssh_config gpu1`."]
        for host, info in state["hosts"].items():
            lines += [f"Host {host}", f"  HostName {info.get('public_ip') or info['private_ip']}",
                      "  User root", f"  IdentityFile {self.key}", "  IdentitiesOnly yes",
                      "  StrictHostKeyChecking accept-new", f"  UserKnownHostsFile {known}"]
            if "public_ip" not in info:
                lines.append(f"  ProxyCommand {self.proxy_command(state)}")
        (self.dir / "ssh_config").write_text("\n".join(lines) + "\n")
        self.write_inventory(state, self.dir / "inventory.yml")

    def inventory(self, state):
        common = " ".join(self.ssh_options())
        gpus = {h: {"ansible_host": i["private_ip"]} for h, i in state["hosts"].items()
                if h.startswith("gpu")}
        return {
            "all": {
                "vars": {
                    "ansible_user": "root",
                    "ansible_python_interpreter": "/usr/bin/python3",
                    "ansible_ssh_private_key_file": str(self.key),
                    "ansible_control_path_dir": str(self.dir / "cp"),
                    "hpcdl_lab_name": self.name,
                    "hpcdl_lab_internet_ip": state["hosts"]["internet"]["public_ip"],
                    "hpcdl_lab_jump_private_ip": state["hosts"]["jump"]["private_ip"],
                    "hpcdl_lab_probe_token": state["probe_token"],
                },
                "children": {
                    "jump_hosts": {"hosts": {"jump": {
                        "ansible_host": state["hosts"]["jump"]["public_ip"],
                        "ansible_ssh_common_args": common,
                    }}},
                    "gpu_nodes": {
                        "hosts": gpus,
                        "vars": {"ansible_ssh_common_args":
                                 f"{common} -o ProxyCommand=\"{self.proxy_command(state)}\""},
                    },
                    "lab_services": {"hosts": {"internet": {
                        "ansible_host": state["hosts"]["internet"]["public_ip"],
                        "ansible_ssh_common_args": common,
                    }}},
                },
            },
        }

    def write_inventory(self, state, path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = (f"# Generated by `lab/lab.py up --name {self.name}`: the lab's hosts and how to reach\n"
                  "# them (gpu nodes only through jump). Regenerated on every `up`; do not edit.\n")
        path.write_text(header + json.dumps(self.inventory(state), indent=2) + "\n")

    def wait_ssh(self, state):
        """Every host answers over SSH the way Ansible will reach it (gpu nodes through jump)."""
        cfg = self.dir / "ssh_config"
        for host in state["hosts"]:
            for _attempt in range(40):
                proc = run(["ssh", "-F", str(cfg), "-o", "BatchMode=yes", host, "true"], check=False)
                if proc.returncode == 0:
                    break
                time.sleep(0.5)
            else:
                raise LabError(f"{host}: ssh does not answer: {proc.stderr.strip()}")

    def load_state(self):
        if not self.state_file.exists():
            raise LabError(f"lab {self.name!r} is not up (no {self.state_file}); run `up` first")
        return json.loads(self.state_file.read_text())


# --------------------------------------------------------------------------- commands
def tcp_open(host, port, timeout=3.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def main(argv=None):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name", default=os.environ.get("HPCDL_LAB", "demo"),
                        help="the lab's name (default: $HPCDL_LAB or 'demo')")
    parser = argparse.ArgumentParser(prog="lab", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("engine", parents=[common], help="install/start the engine if needed and probe it")
    sub.add_parser("image", parents=[common], help="build the base image if its recipe changed")
    p_up = sub.add_parser("up", parents=[common], help="bring a lab up (idempotent)")
    p_up.add_argument("--gpus", type=int, default=int(os.environ.get("HPCDL_LAB_GPUS", "1")))
    p_up.add_argument("--inventory", help="also write the generated inventory here")
    sub.add_parser("down", parents=[common], help="remove the lab: containers, networks, rules, state")
    sub.add_parser("status", parents=[common], help="print the lab's state as JSON")
    p_inv = sub.add_parser("inventory", parents=[common], help="write the generated inventory to a path")
    p_inv.add_argument("path")
    args = parser.parse_args(argv)
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
            state = lab.up(args.gpus)
            if args.inventory:
                lab.write_inventory(state, args.inventory)
        elif args.command == "down":
            if engine_ready():
                lab.down()
            else:
                say("no container engine answers: nothing to take down")
        elif args.command == "status":
            print(json.dumps(lab.load_state(), indent=2))
        elif args.command == "inventory":
            lab.write_inventory(lab.load_state(), args.path)
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

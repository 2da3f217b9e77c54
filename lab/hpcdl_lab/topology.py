"""One lab: its networks, containers and host firewall rules, brought up and taken down.

Names are derived from the lab's name, and every container and network carries the label
hpcdl.lab=<name>, so that `down` finds everything `up` made, even after a failed `up`.
"""
import hashlib
import json
import shutil
import time

from . import connection, registry
from .artifacts import build_artifacts, link_or_copy, publish
from .common import LAB_HOME, LABEL, LabError, cache_lock, engine, run, say
from .engine import ensure_engine, privileged_runtime
from .image import DEFAULT_RELEASE, check_release, ensure_image

# What the internet host serves, counted where it leaves it (its own OUTPUT chain): the artifacts
# over HTTP, the upstream registry, DNS answers. The jump host's traffic with the world outside the
# lab is counted on this machine (DOCKER-USER, see counter_rules).
INTERNET_COUNTERS = (
    ("http", ["-p", "tcp", "--sport", "80"]),
    ("registry", ["-p", "tcp", "--sport", str(registry.PORT)]),
    ("dns", ["-p", "udp", "--sport", "53"]),
)


def node_releases(specs, gpus):
    """Each gpu node's Debian release from `--os` specs: RELEASE (every gpu node) or NODE=RELEASE,
    later specs winning (`--os trixie --os gpu2=bullseye`); comma-separated lists count as several.
    The internet and jump hosts always run the default release (the artifacts are built from it)."""
    nodes = [f"gpu{i}" for i in range(1, gpus + 1)]
    releases = dict.fromkeys(nodes, DEFAULT_RELEASE)
    for spec in (part.strip() for item in specs or () for part in item.split(",")):
        if not spec:
            continue
        host, _sep, release = spec.rpartition("=")
        check_release(release)
        if host and host not in releases:
            raise LabError(f"--os {spec}: this lab's gpu nodes are {', '.join(nodes)} (internet and jump run "
                           f"{DEFAULT_RELEASE})")
        for node in [host] if host else nodes:
            releases[node] = release
    return releases


def iptables(*args, check=True):
    """The host's iptables, waiting for its lock while another lab (or Docker) holds it."""
    return run(["iptables", "-w", *args], check=check)


class Lab:
    def __init__(self, name, home=LAB_HOME):
        if not name.replace("-", "").replace("_", "").isalnum():
            raise LabError(f"lab name {name!r}: use letters, digits, '-' and '_' only")
        self.name = name
        self.dir = home / name
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

    def counter_rules(self, jump_ip, public_bridge):
        """Count the jump host's traffic with the world outside the lab (Debian's mirror, PyPI...):
        what it and the gpu nodes it NATs send and receive through this machine. Rules without a
        target: they only count. Traffic between lab hosts stays on the bridge and is not counted."""
        comment = ["-m", "comment", "--comment", f"hpcdl-lab:{self.name}"]
        return [
            ("DOCKER-USER", ["-s", f"{jump_ip}/32", "-i", public_bridge, "!", "-o", public_bridge, *comment]),
            ("DOCKER-USER", ["-d", f"{jump_ip}/32", "-o", public_bridge, "!", "-i", public_bridge, *comment]),
        ]

    def add_rules(self, rules=None):
        for chain, spec in rules or self.host_rules():
            if iptables("-C", chain, *spec, check=False).returncode != 0:
                iptables("-I", chain, *spec)

    def remove_rules(self):
        """Every host rule that carries this lab's comment, whatever made it."""
        for chain in sorted({chain for chain, _spec in self.host_rules()} | {"DOCKER-USER"}):
            listed = iptables("-S", chain, check=False).stdout.splitlines()
            for line in listed:
                if line.startswith("-A ") and f"hpcdl-lab:{self.name}" in line.replace('"', "").split():
                    run(["sh", "-c", f"iptables -w -D {line[3:]}"], check=False)

    def public_bridge(self):
        """The host's bridge of the public network (Docker names it br-<network id>)."""
        net_id = engine("network", "inspect", "--format", "{{.Id}}", self.public_net).stdout.strip()
        return f"br-{net_id[:12]}"

    def upstream(self):
        """Bytes that crossed to upstream so far: served by the internet host (HTTP, registry, DNS),
        and between the jump host (with the nodes it NATs) and the world outside the lab."""
        state = self.load_state()
        counts = {f"internet_{name}": 0 for name, _spec in INTERNET_COUNTERS}
        listed = engine("exec", self.container("internet"), "iptables", "-S", "OUTPUT", "-v", check=False).stdout
        for line in listed.splitlines():
            for name, _spec in INTERNET_COUNTERS:
                if f"lab-upstream-{name}" in line and " -c " in line:
                    counts[f"internet_{name}"] += int(line.rsplit(" -c ", 1)[1].split()[1])
        jump_ip = state["hosts"]["jump"]["public_ip"]
        counts["jump_to_outside"] = counts["jump_from_outside"] = 0
        for line in iptables("-S", "DOCKER-USER", "-v", check=False).stdout.splitlines():
            if f"hpcdl-lab:{self.name}" not in line.replace('"', "") or " -c " not in line:
                continue
            count = int(line.rsplit(" -c ", 1)[1].split()[1])
            if f"-s {jump_ip}/32" in line:
                counts["jump_to_outside"] += count
            elif f"-d {jump_ip}/32" in line:
                counts["jump_from_outside"] += count
        counts["total"] = sum(counts.values())
        return counts

    def add_internet_counters(self):
        name = self.container("internet")
        for label, spec in INTERNET_COUNTERS:
            rule = [*spec, "-m", "comment", "--comment", f"lab-upstream-{label}"]
            if engine("exec", name, "iptables", "-C", "OUTPUT", *rule, check=False).returncode != 0:
                engine("exec", name, "iptables", "-I", "OUTPUT", *rule)

    def ensure_registry(self):
        """The internet host's upstream registry (lab/hpcdl_lab/registry.py) runs."""
        name = self.container("internet")
        state = engine("exec", name, "systemctl", "is-active", "lab-registry.service", check=False).stdout.strip()
        if state == "active":
            return
        unit = "/etc/systemd/system/lab-registry.service"
        engine("exec", name, "sh", "-c", f'printf "%s" "$1" > {unit}', "sh", registry.UNIT)
        engine("exec", name, "systemctl", "enable", "--now", "lab-registry.service")

    # -- networks and containers ----------------------------------------------------------------
    def ensure_networks(self):
        existing = set(engine("network", "ls", "--format", "{{.Name}}").stdout.split())
        if self.public_net not in existing:
            engine("network", "create", *self.labels(), self.public_net)
        if self.private_net not in existing:
            engine("network", "create", "--internal", *self.labels(),
                   "-o", f"com.docker.network.bridge.name={self.private_bridge}", self.private_net)

    def running(self, host, image=None):
        """The host's container runs (from ``image``, where one is given)."""
        proc = engine("inspect", "--format", "{{.State.Running}} {{.Config.Image}}", self.container(host), check=False)
        state = proc.stdout.split()
        return proc.returncode == 0 and state[:1] == ["true"] and (image is None or state[1:] == [image])

    def start(self, host, image, runtime_args):
        """Start the host from ``image`` unless it runs from it already (another release replaces it)."""
        name = self.container(host)
        if self.running(host, image):
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
        engine(*args, image)  # the image's CMD: its init, with the arguments its release needs
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

    def existing_hosts(self):
        proc = engine("ps", "-a", "--filter", f"label={LABEL}={self.name}",
                      "--format", f'{{{{.Label "{LABEL}.host"}}}}', check=False)
        return [h for h in proc.stdout.split() if h]

    def write_www(self, base_image):
        """The internet host's document root: every built artifact and the probe page."""
        www = self.dir / "www"
        www.mkdir(parents=True, exist_ok=True)
        with cache_lock():
            publish(build_artifacts(base_image), www)
            built = registry.build_registry(www)
        target = www / "registry"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(built, target, copy_function=link_or_copy)
        token = hashlib.sha256(f"{self.name}:{time.time()}".encode()).hexdigest()[:16]
        probe = www / "probe.html"
        if not probe.exists():
            probe.write_text(f"hpcdl-lab egress probe {token}\n")
        return probe.read_text().split()[-1]

    # -- lifecycle -------------------------------------------------------------------------------
    def up(self, gpus, releases=None):
        """Bring the lab up with ``gpus`` nodes; ``releases`` maps a gpu node to its Debian release
        (node_releases; default bookworm, like the internet and jump hosts)."""
        started = time.monotonic()
        ensure_engine()
        releases = releases or node_releases([], gpus)
        with cache_lock():
            image = ensure_image()
            images = {release: ensure_image(release) for release in sorted(set(releases.values()))}
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
        host_image = {h: images[releases[h]] if h in releases else image for h in wanted}
        created = [h for h in wanted if self.start(h, host_image[h], runtime_args)]
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
            state["hosts"][host] = {"private_ip": self.address(host, self.private_net),
                                    "release": releases[host], "image": host_image[host]}
            self.use_lab_dns(host, state["hosts"]["internet"]["public_ip"])
        state["public_bridge"] = self.public_bridge()
        self.add_rules(self.counter_rules(state["hosts"]["jump"]["public_ip"], state["public_bridge"]))
        self.add_internet_counters()
        self.ensure_registry()
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")
        connection.write_ssh_files(self, state)
        connection.wait_ssh(self, state)
        verb = "created " + ", ".join(created) if created else "all hosts were already up"
        say(f"lab {self.name!r} is up in {time.monotonic() - started:.1f} s ({verb})")
        return state

    def host_key(self, host):
        proc = engine("exec", self.container(host), "ssh-keygen", "-l", "-f", "/etc/ssh/ssh_host_ed25519_key.pub",
                      check=False)
        return proc.stdout.split()[1] if proc.returncode == 0 and len(proc.stdout.split()) > 1 else "none"

    def wipe(self, host):
        """A re-rented node: a new container from the bare image, at the same address, with a new host
        key; the controller's known_hosts keeps the old key (playbooks/reprovision.yml replaces it)."""
        state = self.load_state()
        info = state["hosts"].get(host)
        if not host.startswith("gpu") or info is None:
            gpus = ", ".join(h for h in state["hosts"] if h.startswith("gpu"))
            raise LabError(f"{host!r} is not a gpu node of lab {self.name!r} (it has {gpus}): only gpu nodes are wiped")
        started = time.monotonic()
        old_key = self.host_key(host) if self.running(host) else "none"
        engine("rm", "-f", self.container(host))
        connection.stop_control_masters(self)
        self.start(host, info.get("image", state["image"]), state["runtime_args"])
        self.wait_ready(host)
        self.authorize(host)
        address = self.address(host, self.private_net)
        if address != info["private_ip"]:
            raise LabError(f"{host} came back at {address}, not at {info['private_ip']}: another container took its "
                           f"address; take the lab down and up again")
        self.use_lab_dns(host, state["hosts"]["internet"]["public_ip"])
        new_key = self.host_key(host)
        say(f"{host} wiped in {time.monotonic() - started:.1f} s: a bare container at {address}, host key {old_key} -> "
            f"{new_key}; {self.dir / 'known_hosts'} still holds the old one (playbooks/reprovision.yml -l {host} "
            "replaces it)")
        return {"host": host, "address": address, "old_key": old_key, "new_key": new_key}

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
        connection.stop_control_masters(self)
        shutil.rmtree(self.dir, ignore_errors=True)
        say(f"lab {self.name!r} is down ({len(ids)} containers removed)")

    def load_state(self):
        if not self.state_file.exists():
            raise LabError(f"lab {self.name!r} is not up (no {self.state_file}); run `up` first")
        return json.loads(self.state_file.read_text())

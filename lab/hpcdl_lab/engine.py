"""The container engine: installed and started if missing, and --privileged made to work.

Some VMs lack a capability (CAP_SYS_RESOURCE, for one) in their bounding set, and Docker's
--privileged then fails with "unable to apply caps". Where the probe shows that, the lab
registers lab/engine/hpcdl-lab-runc (a runc wrapper that drops only the capabilities the host
lacks) as an extra runtime in daemon.json and runs its containers with it; elsewhere the engine
is used as it is. daemon.json is merged by plugins/module_utils/docker_daemon.py, the code behind
the collection's docker_daemon_config module, loaded by path (no Ansible needed).
"""
import importlib.util
import os
import shutil
import subprocess
import time
from pathlib import Path

from .common import ENGINE, LAB_DIR, LAB_HOME, ROOT, LabError, apt_install, can_apt_install, engine, run, say

WRAPPER_NAME = "hpcdl-lab-runc"
WRAPPER_PATH = Path("/usr/local/libexec") / WRAPPER_NAME
DAEMON_JSON = Path("/etc/docker/daemon.json")
BACKUP_NAME = "daemon.json.hpcdl-lab.bak"


def _docker_daemon():
    spec = importlib.util.spec_from_file_location(
        "hpcdl_docker_daemon", ROOT / "plugins" / "module_utils" / "docker_daemon.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def engine_ready():
    return shutil.which(ENGINE) and engine("info", "--format", "{{.ID}}", check=False).returncode == 0


def ensure_engine():
    """Install and start the container engine if it is missing; return once `info` answers."""
    if engine_ready():
        return
    if ENGINE != "docker":
        raise LabError(f"{ENGINE} does not answer `{ENGINE} info`; start it and try again.")
    if not Path("/usr/sbin/dockerd").exists() and not shutil.which("dockerd"):
        if not can_apt_install():
            raise LabError("Docker is not installed: install docker.io (or Docker CE) and run again.")
        say("Docker is not installed: installing Debian's docker.io package")
        apt_install("docker.io")
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


def add_runtime(daemon_json, name, path):
    """Add the runtime ``name`` to a daemon.json, keeping every other key; True if it changed.

    The previous file is kept beside it as daemon.json.hpcdl-lab.bak; a file that is not a JSON
    object is refused (LabError) and left untouched.
    """
    daemon_json = Path(daemon_json)
    lib = _docker_daemon()
    text = daemon_json.read_text() if daemon_json.exists() else None
    try:
        existing = lib.parse_config(text, str(daemon_json))
    except lib.DaemonConfigError as exc:
        raise LabError(str(exc)) from exc
    merged = lib.merge_config(existing, {"runtimes": {name: {"path": str(path)}}})
    if merged == existing:
        return False
    daemon_json.parent.mkdir(parents=True, exist_ok=True)
    if text is not None:
        shutil.copy2(daemon_json, daemon_json.with_name(BACKUP_NAME))
    daemon_json.write_text(lib.render(merged))
    return True


def _daemon_pid():
    proc = run(["pidof", "dockerd"], check=False)
    return int(proc.stdout.split()[0]) if proc.returncode == 0 and proc.stdout.split() else None


def _register_wrapper():
    """Install the capability-trimming runtime and register it with dockerd (not as default)."""
    WRAPPER_PATH.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(LAB_DIR / "engine" / WRAPPER_NAME, WRAPPER_PATH)
    WRAPPER_PATH.chmod(0o755)
    if not add_runtime(DAEMON_JSON, WRAPPER_NAME, WRAPPER_PATH):
        return
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

"""What a user gets on gpu1 after docker + nvidia_docker: a running engine with the nvidia
runtime next to their own settings, the image from the archive, and refusals that change nothing (a
corrupted archive, a toolkit key that is not the pinned one, an invalid daemon.json)."""
import json
import re
import subprocess

import pytest
from labhosts import GPUS, INTERNET_IP, SCENARIO_DIR, ansible_module, ansible_playbook, host

IMAGE = "hpcdl-lab/busybox:1"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def daemon_json(gpu):
    return json.loads(host(gpu).file("/etc/docker/daemon.json").content_string)


@pytest.mark.parametrize("gpu", GPUS)
def test_the_engine_runs_and_starts_at_boot(gpu):
    node = host(gpu)
    assert node.service("docker").is_running
    assert node.service("docker").is_enabled
    assert node.check_output("docker info --format '{{.ServerVersion}}'")


@pytest.mark.parametrize("gpu", GPUS)
def test_docker_info_lists_the_nvidia_runtime(gpu):
    runtimes = json.loads(host(gpu).check_output("docker info --format '{{json .Runtimes}}'"))
    assert runtimes["nvidia"]["path"] == "nvidia-container-runtime"
    for name in daemon_json(gpu).get("runtimes", {}):
        assert name in runtimes  # the user's own runtime (the lab's wrapper) is still registered


@pytest.mark.parametrize("gpu", GPUS)
def test_a_container_runs_through_the_nvidia_runtime(gpu):
    show = "sh -c 'echo \"runtime: $NVIDIA_CONTAINER_RUNTIME\"'"
    out = host(gpu).check_output(f"docker run --rm --runtime nvidia {IMAGE} {show}")
    assert out == "runtime: hpcdl-lab-test 1.17.8"
    # Without --runtime the container does not go through it (the user's default runtime stays).
    out = host(gpu).check_output(f"docker run --rm {IMAGE} {show}")
    assert out.strip() == "runtime:"


@pytest.mark.parametrize("gpu", GPUS)
def test_the_toolkit_came_from_the_signed_repository(gpu):
    node = host(gpu)
    assert node.package("nvidia-container-toolkit").version == "1.17.8-1"
    assert node.check_output("nvidia-ctk --version").startswith("NVIDIA Container Toolkit CLI version 1.17.8")
    source = node.file("/etc/apt/sources.list.d/nvidia-container-toolkit.list").content_string
    assert "signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.asc" in source
    www = f"http://{INTERNET_IP}/nvidia_toolkit"
    published = subprocess.run(["curl", "-sS", f"{www}/gpgkey.fingerprint"], capture_output=True, text=True,
                               check=True).stdout.strip()
    key = node.check_output("gpg --batch --with-colons --show-keys "
                            "/usr/share/keyrings/nvidia-container-toolkit-keyring.asc")
    assert "hpcdl lab TEST key" in key
    assert f"fpr:::::::::{published}:" in key


@pytest.mark.parametrize("gpu", GPUS)
def test_daemon_json_holds_the_users_keys_and_ours(gpu):
    node = host(gpu)
    planted = json.loads(node.file("/etc/hpcdl-lab/daemon.json.planted").content_string)
    config = daemon_json(gpu)
    for key, value in planted.items():
        if isinstance(value, dict):
            assert config[key].items() >= value.items(), key
        else:
            assert config[key] == value, key
    assert config["runtimes"]["nvidia"] == {"path": "nvidia-container-runtime"}
    assert config["registry-mirrors"] == [f"http://{INTERNET_IP}:5000"]
    assert config["log-driver"] == "json-file"
    assert config["log-opts"] == {"max-file": "2", "max-size": "10m"}  # merged key by key
    # Each change was backed up first; one of the backups is the planted file.
    names = node.check_output("ls /etc/docker/").split()
    backups = [name for name in names if name.startswith("daemon.json.") and name.endswith("~")]
    assert backups, names
    contents = [json.loads(node.file(f"/etc/docker/{name}").content_string) for name in backups]
    assert planted in contents


@pytest.mark.parametrize("gpu", GPUS)
def test_the_image_from_the_archive_is_loaded_and_the_archive_is_gone(gpu):
    node = host(gpu)
    assert node.run(f"docker image inspect {IMAGE}").rc == 0
    assert node.check_output(f"docker run --rm {IMAGE}") == "Hello from the hpcdl lab!"
    assert not node.file("/var/tmp/hpcdl-docker-images").exists


@pytest.mark.parametrize("gpu", GPUS)
def test_the_user_is_in_the_docker_group(gpu):
    assert "docker" in host(gpu).user("hpcdl").groups


@pytest.mark.parametrize("gpu", GPUS)
def test_a_key_the_user_adds_by_hand_survives_the_next_run(gpu):
    node = host(gpu)
    config = daemon_json(gpu)
    config["max-concurrent-uploads"] = 3
    node.run("cp -p /etc/docker/daemon.json /etc/hpcdl-lab/daemon.json.before-hand-edit")
    python = "import json,sys; json.dump(json.loads(sys.argv[1]), open('/etc/docker/daemon.json', 'w'), indent=2)"
    assert node.run(f"python3 -c {_quote(python)} {_quote(json.dumps(config))}").rc == 0
    rc, out = ansible_playbook(cwd=SCENARIO_DIR)
    assert rc == 0, out[-4000:]
    changed = {name: int(count) for name, count, _u, _f in RECAP.findall(out)}
    assert changed.get(gpu) == 0, out[-4000:]
    after = daemon_json(gpu)
    assert after["max-concurrent-uploads"] == 3
    assert after == config


@pytest.mark.parametrize("gpu", GPUS)
def test_an_archive_whose_checksum_fails_is_refused_and_nothing_is_loaded(gpu, tmp_path):
    www = f"http://{INTERNET_IP}/images"
    good = subprocess.run(["curl", "-sS", f"{www}/busybox.tar.sha256"], capture_output=True, text=True,
                          check=True).stdout.split()[0]
    play = tmp_path / "corrupt.yml"
    play.write_text(f"""
- name: Load a corrupted archive
  hosts: {gpu}
  gather_facts: false
  roles:
    - role: hpcdl.gpu.docker
      vars:
        docker_image_archives:
          - image: hpcdl-lab/busybox-corrupt:1
            url: {www}/busybox-corrupt.tar
            sha256: {good}
""")
    # The role's install tag: the packages (already there) and the image archives, as a user who
    # adds an archive reruns it.
    rc, out = ansible_playbook("--tags", "install", playbook=play, cwd=SCENARIO_DIR)
    assert rc == 2, out[-4000:]
    message = next(line for line in out.splitlines() if "No image archive was loaded" in line)
    print(message)
    assert "hpcdl-lab/busybox-corrupt:1 from " + www + "/busybox-corrupt.tar" in message
    assert re.search(r"the sha256 of the download is [0-9a-f]{64}, not the expected " + good + r"\. No image", message)
    node = host(gpu)
    assert node.run("docker image inspect hpcdl-lab/busybox-corrupt:1").rc != 0
    assert not node.file("/var/tmp/hpcdl-docker-images").exists


@pytest.mark.parametrize("gpu", GPUS)
def test_a_toolkit_key_that_is_not_the_pinned_one_is_refused_and_nothing_changes(gpu, tmp_path):
    node = host(gpu)
    keyring = "/usr/share/keyrings/nvidia-container-toolkit-keyring.asc"
    before = (node.file(keyring).content_string, node.file(keyring).mtime,
              node.file("/etc/apt/sources.list.d/nvidia-container-toolkit.list").content_string)
    www = f"http://{INTERNET_IP}/nvidia_toolkit"
    published = subprocess.run(["curl", "-sS", f"{www}/gpgkey.fingerprint"], capture_output=True, text=True,
                               check=True).stdout.strip()
    pinned = "C95B 321B 61E8 8C18 09C4  F759 DDCA E044 F796 ECB0"  # NVIDIA's real key, not the lab's
    play = tmp_path / "wrong_key.yml"
    play.write_text(f"""
- name: Install the toolkit from a mirror whose key is not the pinned one
  hosts: {gpu}
  gather_facts: false
  roles:
    - role: hpcdl.gpu.nvidia_docker
      vars:
        nvidia_docker_repo_gpg_fingerprint: {pinned}
""")
    rc, output = ansible_playbook(playbook=play, cwd=SCENARIO_DIR)
    assert rc == 2, output
    message = next(line for line in output.splitlines() if "[ERROR]" in line and "is not the one" in line)
    print(message)
    assert (f"The key at {www}/gpgkey is not the one nvidia_docker_repo_gpg_fingerprint pins "
            f"(C95B321B61E88C1809C4F759DDCAE044F796ECB0): it holds the key {published} (hpcdl lab TEST key for "
            f"nvidia-container-toolkit <lab@hpcdl.invalid>). Nothing was written to {keyring} and nothing was "
            "installed. Check the mirror, or set nvidia_docker_repo_gpg_fingerprint to the fingerprint of the key "
            "that really signs it.") in message
    assert (node.file(keyring).content_string, node.file(keyring).mtime,
            node.file("/etc/apt/sources.list.d/nvidia-container-toolkit.list").content_string) == before


@pytest.mark.parametrize("gpu", GPUS)
def test_an_invalid_daemon_json_stops_the_merge_and_is_left_untouched(gpu):
    node = host(gpu)
    broken = '{"max-concurrent-downloads": 2,\n  "runtimes": {\n'
    node.run(f"printf '%s' {_quote(broken)} > /etc/hpcdl-lab/broken-daemon.json")
    args = {"path": "/etc/hpcdl-lab/broken-daemon.json",
            "options": {"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}}
    rc, results = ansible_module(gpu, "hpcdl.gpu.docker_daemon_config", json.dumps(args))
    assert rc == 2, results
    assert "/etc/hpcdl-lab/broken-daemon.json is not valid JSON (" in results[gpu]["msg"]
    assert "It was left untouched." in results[gpu]["msg"]
    assert node.file("/etc/hpcdl-lab/broken-daemon.json").content_string == broken
    assert node.check_output("ls /etc/hpcdl-lab").split() == ["broken-daemon.json", "daemon.json.before-hand-edit",
                                                              "daemon.json.planted"]


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"

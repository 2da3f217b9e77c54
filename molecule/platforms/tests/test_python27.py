"""The seed-era interpreter for real: the collection's modules, and a role that calls them, run on the
Debian 11 node (gpu2) with Python 2.7 (ansible_python_interpreter=/usr/bin/python2.7), as they would on
the seed's CentOS 7 node. Only ansible-core 2.16, the last release that manages Python 2.7 targets,
can run them: `make test-ansible-2.16` runs this scenario under it; under a newer controller these
tests are skipped, saying so.
"""
import json

import pytest
from ansible.release import __version__ as ANSIBLE_VERSION
from labhosts import PROJECT, ansible_module, ansible_playbook, host

NODE = "gpu2"
PY27 = ("-e", "ansible_python_interpreter=/usr/bin/python2.7")
SCRATCH = "/root/hpcdl-py27"

pytestmark = pytest.mark.skipif(
    tuple(int(part) for part in ANSIBLE_VERSION.split(".")[:2]) >= (2, 17),
    reason=f"ansible-core {ANSIBLE_VERSION} manages no Python 2.7 target (2.16 is the last): "
           "make test-ansible-2.16 runs these")


def module(name, args):
    rc, results = ansible_module(NODE, name, json.dumps(args), extra=PY27)
    return rc, results[NODE]


@pytest.fixture
def scratch():
    node = host(NODE)
    node.check_output(f"rm -rf {SCRATCH} && mkdir -p {SCRATCH}")
    yield node
    node.run(f"rm -rf {SCRATCH}")


def test_modules_run_with_python_2_7():
    rc, result = module("ansible.builtin.setup", {"gather_subset": ["!all", "!min", "python"]})
    assert rc == 0, result
    python = result["ansible_facts"]["ansible_python"]
    assert python["executable"] == "/usr/bin/python2.7" and python["version_info"][:2] == [2, 7], python


def test_cuda_compat_judges_the_toolkit_under_python_2_7():
    rc, result = module("hpcdl.gpu.cuda_compat", {"cuda_version": "12.2", "fail_on_incompatible": False})
    assert rc == 0, result
    assert (result["toolkit_version"], result["toolkit_path"]) == ("12.2.140", "/usr/local/cuda-12.2"), result
    assert result["required_cuda"] == "12.2", result


def test_proxy_unset_removes_the_proxy_and_keeps_the_other_lines_under_python_2_7(scratch):
    path = f"{SCRATCH}/proxy.sh"
    scratch.check_output(f"printf 'export KEEP_ME=1\\nexport http_proxy=http://127.0.0.1:9/\\n' > {path}")
    rc, result = module("hpcdl.gpu.proxy_unset", {"names": ["http_proxy"], "shell_files": [path]})
    assert rc == 0 and result["changed"], result
    removed = [entry for entry in result["removed"] if entry["path"] == path]
    assert removed and removed[0]["lines"] == ["export http_proxy=http://127.0.0.1:9/"], result["removed"]
    assert scratch.file(path).content_string == "export KEEP_ME=1\n"


def test_docker_daemon_config_merges_and_keeps_the_users_keys_under_python_2_7(scratch):
    path = f"{SCRATCH}/daemon.json"
    scratch.check_output(f"printf '{{\"debug\": true}}\\n' > {path}")
    rc, result = module("hpcdl.gpu.docker_daemon_config", {"path": path, "options": {"max-concurrent-downloads": 2}})
    assert rc == 0 and result["changed"], result
    assert result["modified_keys"] == ["max-concurrent-downloads"], result
    assert json.loads(scratch.file(path).content_string) == {"debug": True, "max-concurrent-downloads": 2}
    again_rc, again = module("hpcdl.gpu.docker_daemon_config",
                             {"path": path, "options": {"max-concurrent-downloads": 2}})
    assert again_rc == 0 and not again["changed"], again


def test_the_proxy_unset_role_converges_under_python_2_7():
    rc, output = ansible_playbook("--limit", NODE, *PY27, playbook=PROJECT / "playbooks" / "proxy_unset.yml")
    assert rc == 0, output[-3000:]
    assert f"{NODE}" in output and "changed=0" in output.split("PLAY RECAP")[-1], output[-3000:]

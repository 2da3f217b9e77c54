"""The fleet settings of playbooks/gpu_node.yml (and so site.yml): bad values of hpcdl_rolling_batch and
hpcdl_strategy are refused before any node is touched, and hpcdl_rolling_batch really batches the nodes.

Runs on this machine with three "gpu nodes" that are all localhost (`ansible_connection: local`) and
with no role task selected (a tag no task has, `always` skipped): only the plays and their batches
run, so nothing is installed or changed, and the count of the gpu play's banners is its batches.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from check_play import shown

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GPU_PLAY = "PLAY [Converge the GPU nodes (egress, proxy removal, Docker, NVIDIA runtime, CUDA, Jupyter, tools)]"
NODES = ["gpu1", "gpu2", "gpu3"]


def run_gpu_node(tmp_path, *args):
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"children": {
        "jump_hosts": {"hosts": {"jump": local}},
        "gpu_nodes": {"hosts": {name: local for name in NODES}}}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_DEPRECATION_WARNINGS="false", ANSIBLE_LOCALHOST_WARNING="false")
    playbook = ROOT / "playbooks" / "gpu_node.yml"
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "inventory.yml", str(playbook), "--check", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc, proc.stdout + proc.stderr


BAD = {
    "batch_not_a_number": ('{"hpcdl_rolling_batch": "some"}', 'hpcdl_rolling_batch is "some"'),
    "batch_negative": ('{"hpcdl_rolling_batch": -1}', "hpcdl_rolling_batch is -1"),
    "batch_over_100_percent": ('{"hpcdl_rolling_batch": "150%"}', 'hpcdl_rolling_batch is "150%"'),
    "strategy_not_a_name": ('{"hpcdl_strategy": "free; rm"}', 'hpcdl_strategy "free; rm"'),
}


@pytest.mark.parametrize(("extra", "message"), BAD.values(), ids=BAD.keys())
def test_bad_fleet_settings_are_refused_before_any_node_is_touched(tmp_path, extra, message):
    proc, output = run_gpu_node(tmp_path, "-e", extra, "--tags", "docker")
    assert proc.returncode == 2, output
    message = shown(message)
    assert message in output and "is how many GPU nodes converge at a time" in output, output
    assert GPU_PLAY not in output, "the gpu play started despite the bad value"
    print(next(line for line in output.splitlines() if message in line).strip()[:300])


@pytest.mark.parametrize(("batch", "batches"), [("0", 1), ("1", 3), ("2", 2), ("34%", 3), ("100%", 1)])
def test_hpcdl_rolling_batch_converges_the_nodes_a_batch_at_a_time(tmp_path, batch, batches):
    proc, output = run_gpu_node(tmp_path, "-e", f"hpcdl_rolling_batch={batch}", "--tags", "hpcdl-no-such-tag",
                                "--skip-tags", "always")
    assert proc.returncode == 0, output
    assert output.count(GPU_PLAY) == batches, f"hpcdl_rolling_batch={batch}: {output.count(GPU_PLAY)} batches\n{output}"


def test_without_rolling_the_gpu_play_runs_once_with_the_free_strategy(tmp_path):
    proc, output = run_gpu_node(tmp_path, "--tags", "hpcdl-no-such-tag", "--skip-tags", "always", "-vv")
    assert proc.returncode == 0, output
    assert output.count(GPU_PLAY) == 1, output
    play = yaml.safe_load((ROOT / "playbooks" / "gpu_node.yml").read_text())[1]
    assert "regex_replace('linear$', 'free')" in play["strategy"]
    assert play["serial"] == "{{ hpcdl_rolling_batch | default(0) }}"
    assert not re.search(r"\[WARNING\].*run_once", output), output

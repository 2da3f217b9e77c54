"""site.yml through ansible-runner, as a controller service (AWX, Automation Controller) or an execution
environment (execution-environment.yml) runs it: `ansible-runner run` with process isolation off, on the
converged fleet of this scenario. The run is judged from runner's own artifacts (its status, return code
and job events), as such a service judges it: successful, every host reached, nothing changed.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from labhosts import GPUS, INVENTORY, PROJECT

RUNNER = Path(sys.executable).parent / "ansible-runner"


def test_site_yml_through_ansible_runner_succeeds_and_changes_nothing(tmp_path):
    data_dir = tmp_path / "runner"
    (data_dir / "env").mkdir(parents=True)
    # What a controller service sets for a project: this collection where Ansible finds it, the project's
    # ansible.cfg (its callbacks), the inventory Molecule made for the lab.
    (data_dir / "env" / "envvars").write_text(json.dumps({
        "ANSIBLE_COLLECTIONS_PATH": os.environ["ANSIBLE_COLLECTIONS_PATH"],
        "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
    }))
    proc = subprocess.run(
        [str(RUNNER), "run", str(data_dir), "--project-dir", str(PROJECT / "playbooks"), "-p", "site.yml",
         "--inventory", str(INVENTORY), "--ident", "site", "-j"],
        capture_output=True, text=True, check=False, timeout=1800,
        env={k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_CALLBACK_RESULT")},
    )
    artifacts = data_dir / "artifacts" / "site"
    status = (artifacts / "status").read_text() if (artifacts / "status").exists() else "(no status file)"
    tail = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0 and status == "successful", f"ansible-runner: rc={proc.returncode}, {status}\n{tail}"
    assert (artifacts / "rc").read_text() == "0"
    events = [json.loads(path.read_text()) for path in sorted((artifacts / "job_events").glob("*.json"))]
    stats = [e["event_data"] for e in events if e["event"] == "playbook_on_stats"]
    assert stats, "runner recorded no playbook_on_stats event"
    assert set(GPUS) | {"jump"} <= set(stats[-1]["ok"]), f"hosts that ran: {stats[-1]['ok']}"
    assert not stats[-1]["failures"] and not stats[-1]["dark"], stats[-1]
    changed = [(e["event_data"]["host"], e["event_data"]["task"]) for e in events
               if e["event"] == "runner_on_ok" and e["event_data"]["res"].get("changed")]
    assert not stats[-1]["changed"], f"site.yml through ansible-runner changed a converged fleet: {changed}"

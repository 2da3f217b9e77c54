"""hpcdl.gpu.gpu_bench_report run by ansible-playbook on the controller: check mode writes nothing,
a first run writes the table, JSON and chart, a second run over the same results changes nothing.

The results are the lab scenario's fixture (molecule/gpu_bench/files/workstation-cpu.json, a real
CPU result) kept once as this host's own and once added as another host's.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from check_play import BIN

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "molecule" / "gpu_bench" / "files" / "workstation-cpu.json"
PLAY = """
- name: Compare gpu_bench results
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Compare
      hpcdl.gpu.gpu_bench_report:
        report_dir: "{{ report_dir }}"
        hosts:
          - host: localhost
            price_per_hour: 1.5
            currency: XTS
        add_results: "{{ add_results }}"
      register: report

    - name: Show what it returned
      ansible.builtin.debug:
        var: report
"""


def play(tmp_path, variables, *args):
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_DEPRECATION_WARNINGS="false")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "play.yml",
                           "-e", f"ansible_python_interpreter={sys.executable}", "-e", "@vars.json", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    start = proc.stdout.find("{")
    document = json.loads(proc.stdout[start:]) if start >= 0 else {}
    tasks = document.get("plays", [{}])[0].get("tasks", [])
    return proc, (tasks[0]["hosts"]["localhost"] if tasks else {})


def setup(tmp_path):
    report_dir = tmp_path / "report"
    (report_dir / "results").mkdir(parents=True)
    kept = json.loads(FIXTURE.read_text())
    kept["host"] = "localhost"
    (report_dir / "results" / "localhost.json").write_text(json.dumps(kept))
    return report_dir, {"report_dir": str(report_dir), "add_results": [str(FIXTURE)]}


def test_check_mode_writes_nothing_then_a_run_writes_once(tmp_path):
    report_dir, variables = setup(tmp_path)
    files = [report_dir / f"gpu_bench_report.{ext}" for ext in ("txt", "json", "png")]

    proc, result = play(tmp_path, variables, "--check")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert result["changed"] is True and sorted(result["written"]) == ["json", "png", "table"]
    assert not any(f.exists() for f in files), "check mode wrote the report"
    assert [row["host"] for row in result["rows"]] == ["localhost", "workstation-cpu"]

    proc, result = play(tmp_path, variables)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert result["changed"] is True and all(f.is_file() for f in files)
    assert files[0].read_text().splitlines() == result["table"]
    rows = json.loads(files[1].read_text())["rows"]
    assert rows[0]["price_per_hour"] == 1.5 and rows[1]["price_per_hour"] == 0.5  # the inventory's, the file's own
    assert all(row["label"] == "CPU" for row in rows)
    assert files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stamps = [f.stat().st_mtime_ns for f in files]

    proc, result = play(tmp_path, variables)
    assert proc.returncode == 0 and result["changed"] is False and result["written"] == [], result
    assert [f.stat().st_mtime_ns for f in files] == stamps, "an unchanged report was rewritten"


def test_a_host_without_a_result_yet_is_named(tmp_path):
    report_dir, variables = setup(tmp_path)
    (report_dir / "results" / "localhost.json").unlink()
    proc, result = play(tmp_path, {**variables, "add_results": []}, "--check")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert result["missing"] == ["localhost"] and result["changed"] is False
    assert result["msg"] == "0 host(s) compared; no result yet for localhost (nothing to report: no file written)."


def test_an_added_file_that_is_not_ours_fails_before_anything_is_written(tmp_path):
    report_dir, variables = setup(tmp_path)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "someone-elses-benchmark/3", "host": "x"}))
    proc, result = play(tmp_path, {**variables, "add_results": [str(other)]})
    assert proc.returncode == 2
    assert result["msg"] == (f'gpu_bench_add_results: {other} is not a gpu_bench result: its "format" is '
                             f'"someone-elses-benchmark/3", not "hpcdl.gpu.gpu_bench/1".')
    assert not (report_dir / "gpu_bench_report.json").exists()

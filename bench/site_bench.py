"""Benchmark playbooks/site.yml on fresh labs: cold, rerun, the no-op floor, scaling, mitogen.

    .venv/bin/python bench/site_bench.py [--nodes 1,4,8] [--mitogen] [--mitogen-cold] [--forks N]
                                         [--lab-prefix bench] [--keep] [--skip-down] [--playbook P]
                                         [-e VAR=VALUE]
    make bench BENCH_ARGS="--nodes 1 --mitogen"

For each node count N in --nodes, on a lab of its own named bench-N (--lab-prefix; taken down first, so the
first converge is cold; taken down again at the end unless --keep):
  1. `lab/lab.py up --name bench-N --gpus N` writes hosts.yml into a temporary inventory folder whose
     group_vars is a link to inventories/lab/group_vars: exactly the demo's settings;
  2. site.yml, cold: wall time per play (each play is attributed to the playbook file it was loaded
     from, via the callback in bench/callback_plugins) and per role (the seconds its tasks ran,
     summed over the hosts);
  3. site.yml again (the rerun): wall time, changed tasks (PLAY RECAP), Tengine compiles
     (`TASK [hpcdl.gpu.tengine : Compile]` reporting changed);
  4. bench/noop.yml (gather facts + ping on the same hosts): the floor a rerun is compared to;
  5. with --mitogen (and mitogen installed: `make mitogen`), the rerun and the no-op again under
     mitogen's strategy (ANSIBLE_STRATEGY=mitogen_linear; site.yml's gpu play follows it with
     mitogen_free); with --mitogen-cold, before that, a second fresh lab converged cold under mitogen.
Every run also records the controller's own CPU seconds: user + sys of ansible-playbook and of the
processes it waited for (its workers and their ssh clients; not ssh's ControlPersist masters, which
detach), the part our code decides when the lab's containers share the machine's cores; and the CPU
seconds the lab's containers used in the run (their cgroups): with both, the scaling lines say how
busy the machine's CPUs were, i.e. whether the largest fleet's wall time was the machine's limit.

Then the targets, next to the figures: changed tasks = 0 on every rerun, rerun <= 5 x the no-op,
no Tengine compile on a rerun, the largest count's cold converge <= 1.5 x one node's (the rerun's
ratio is printed beside it, without a target).

It prints figures; it is not a test. Its exit status is 1 when a playbook fails, 2 when a lab cannot
be brought up, and 0 otherwise, whether or not a target is met. Everything printed is also written to
artifacts/bench/site-<timestamp>.json, beside each ansible-playbook log (and the timing events).
Standard library only.
"""
from __future__ import annotations

import argparse
import configparser
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import reprovision_stage

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
ARTIFACTS = ROOT / "artifacts" / "bench"
SITE = ROOT / "playbooks" / "site.yml"
NOOP = BENCH / "noop.yml"
CALLBACK = "hpcdl_bench_timing"
COMPILE_TASK = "hpcdl.gpu.tengine : Compile"

TARGET_RERUN_CHANGED = 0
TARGET_RERUN_OVER_NOOP = 5.0
TARGET_RERUN_COMPILES = 0
TARGET_SCALING = 1.5
MITOGEN_STRATEGY = "mitogen_linear"

RECAP_LINE = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$")
TASK_HEADER = re.compile(r"^TASK \[(.+?)\] \**$")
SECTION_START = ("TASK [", "RUNNING HANDLER [", "PLAY [", "PLAY RECAP")


class LabFailed(Exception):
    """`lab/lab.py up` did not bring the lab up."""


def say(message=""):
    print(message, flush=True)


# --------------------------------------------------------------------------- parsing
def parse_recap(log_text):
    """PLAY RECAP of a default-callback log: {host: {"ok": 3, "changed": 0, ...}}."""
    recap = {}
    lines = log_text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("PLAY RECAP")]
    if not starts:
        return recap
    for line in lines[starts[-1] + 1:]:
        match = RECAP_LINE.match(line.strip())
        if not match:
            if recap:
                break
            continue
        counts = dict(pair.split("=") for pair in match.group(2).split())
        recap[match.group(1)] = {key: int(value) for key, value in counts.items()}
    return recap


def task_results(log_text, task):
    """How `TASK [task]` ended on each host in a default-callback log: {"seen": n, "changed": n, ...}.

    Counts the result lines ("changed: [jump]", "skipping: [jump]", "ok: ...") between the task's
    header and the next header; `seen` is how many times the header was printed.
    """
    counts = {"seen": 0, "changed": 0, "ok": 0, "skipping": 0, "failed": 0}
    inside = False
    for line in log_text.splitlines():
        header = TASK_HEADER.match(line)
        if header:
            inside = header.group(1) == task
            counts["seen"] += inside
            continue
        if line.startswith(SECTION_START):
            inside = False
            continue
        if inside:
            for status, prefix in (("changed", "changed: ["), ("ok", "ok: ["), ("skipping", "skipping: ["),
                                   ("failed", "fatal: [")):
                if line.startswith(prefix):
                    counts[status] += 1
    return counts


def read_events(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stage_of(play_path):
    """The stage a play belongs to: its playbook file, or site.yml's own play by its line."""
    file_name = play_path.rsplit(":", 1)[0]
    return Path(file_name).name


def stage_times(events, started, ended):
    """Seconds per stage, in the order the stages ran, from the callback's play_start events.

    A play lasts until the next play starts (or the closing statistics); the time before the first
    play (loading the playbook and inventory) and after the statistics is its own row.
    """
    plays = [e for e in events if e["event"] == "play_start"]
    stats = [e["t"] for e in events if e["event"] == "stats"]
    finish = stats[0] if stats else ended
    stages = []
    for i, play in enumerate(plays):
        until = plays[i + 1]["t"] if i + 1 < len(plays) else finish
        name = stage_of(play["path"])
        if name == SITE.name:  # the plays written in site.yml itself: one row each
            name = f"{SITE.name}: {play['name']}"
        if stages and stages[-1]["stage"] == name:
            stages[-1]["seconds"] += until - play["t"]
            stages[-1]["plays"] += 1
        else:
            stages.append({"stage": name, "plays": 1, "seconds": until - play["t"]})
    overhead = (plays[0]["t"] - started if plays else ended - started) + (ended - finish if plays else 0.0)
    return stages, overhead


def role_times(events):
    """Seconds each role's tasks ran, summed over the hosts, in the order the roles first ran.

    From the callback's task_start / task_end events (a task on a host runs from its start to its
    result); tasks outside a role count as "(plays)". With several hosts at once the sum is larger
    than the wall time: it says where the hosts spent their time, not how long the run took.
    """
    started, busy = {}, {}
    for event in events:
        key = (event.get("host"), event.get("uuid"))
        if event["event"] == "task_start":
            started[key] = event["t"]
        elif event["event"] == "task_end" and key in started:
            role = event.get("role") or "(plays)"
            busy[role] = busy.get(role, 0.0) + event["t"] - started.pop(key)
    return [{"role": role, "host_seconds": round(seconds, 2)} for role, seconds in busy.items()]


# --------------------------------------------------------------------------- running
def callbacks_enabled():
    """The callbacks ansible.cfg (or the environment, which wins) enables, plus the benchmark's."""
    enabled = os.environ.get("ANSIBLE_CALLBACKS_ENABLED")
    if enabled is None:
        config = configparser.ConfigParser(interpolation=None)
        config.read(ROOT / "ansible.cfg")
        enabled = config.get("defaults", "callbacks_enabled", fallback="")
    names = [name.strip() for name in enabled.split(",") if name.strip()]
    return ",".join([*names, CALLBACK] if CALLBACK not in names else names)


def mitogen_plugins():
    """The folder of mitogen's strategy plugins in the project's venv, or None when mitogen is not installed."""
    proc = subprocess.run([str(VENV_BIN / "python"), "-c",
                           "import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__))"],
                          capture_output=True, text=True, check=False)
    folder = Path(proc.stdout.strip()) / "plugins" / "strategy" if proc.returncode == 0 else None
    return folder if folder and folder.is_dir() else None


def ansible_env(events, mitogen=None):
    env = dict(os.environ)
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".venv" / "collections"),
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_CALLBACK_PLUGINS": str(BENCH / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": callbacks_enabled(),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "HPCDL_BENCH_EVENTS": str(events),
    })
    if mitogen:
        # site.yml's gpu play follows the configured strategy (mitogen_linear -> mitogen_free).
        env.update({"ANSIBLE_STRATEGY": MITOGEN_STRATEGY, "ANSIBLE_STRATEGY_PLUGINS": str(mitogen)})
    return env


def run_playbook(playbook, inventory, forks, log, extra_vars=(), *, limit=None, mitogen=None):
    """Run one ansible-playbook; its output goes to `log`. Returns the figures of that run."""
    events = log.with_suffix(".events.jsonl")
    events.unlink(missing_ok=True)
    args = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "--forks", str(forks), str(playbook)]
    args += ["--limit", limit] if limit else []
    for item in extra_vars:
        args += ["-e", item]
    load = os.getloadavg()[0]
    started = time.monotonic()
    with log.open("w") as out:
        out.write(f"# {' '.join(args)}{'  (mitogen: ' + MITOGEN_STRATEGY + ')' if mitogen else ''}\n")
        out.flush()
        proc = subprocess.Popen(args, cwd=ROOT, env=ansible_env(events, mitogen), stdout=out, stderr=subprocess.STDOUT)
        # wait4: the CPU time of ansible-playbook and of every process it waited for (workers, ssh).
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    ended = time.monotonic()
    text = log.read_text()
    all_events = read_events(events)
    stages, overhead = stage_times(all_events, started, ended)
    recap = parse_recap(text)
    changed_tasks = [f"{e['host']}: {e['task']}" for e in all_events if e["event"] == "changed"]
    return {
        "playbook": str(Path(playbook).relative_to(ROOT)),
        "mitogen": bool(mitogen),
        "rc": proc.returncode,
        "wall_s": round(ended - started, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "cpu_user_s": round(usage.ru_utime, 2),
        "cpu_sys_s": round(usage.ru_stime, 2),
        "load_avg_1m_at_start": load,
        "stages": [dict(s, seconds=round(s["seconds"], 2)) for s in stages],
        "roles": role_times(all_events),
        "overhead_s": round(overhead, 2),
        "recap": recap,
        "changed": sum(h.get("changed", 0) for h in recap.values()),
        "failed": sum(h.get("failed", 0) + h.get("unreachable", 0) for h in recap.values()),
        "tasks": sum(h.get("ok", 0) + h.get("changed", 0) + h.get("skipped", 0) + h.get("failed", 0)
                     for h in recap.values()),
        "changed_tasks": changed_tasks,
        "compile": task_results(text, COMPILE_TASK),
        "log": str(log.relative_to(ROOT)),
        "fatal_lines": [line for line in text.splitlines() if line.startswith(("fatal:", "ERROR!", "[ERROR]"))][:10],
    }


def lab(command, name, log, *extra):
    args = [sys.executable, str(ROOT / "lab" / "lab.py"), command, "--name", name, *extra]
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"# {' '.join(args)}\n")
        out.flush()
        proc = subprocess.run(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-8:])
        raise LabFailed(f"`lab {command} --name {name}` failed ({proc.returncode}); {log}:\n{tail}")
    return round(time.monotonic() - started, 2)


def lab_cpu_seconds(name):
    """CPU seconds used so far by the lab's containers (hpcdl-<name>-*: jump, the gpu nodes, internet),
    summed from their cgroups (cgroup v1 cpuacct.usage, or v2 cpu.stat), or None where unreadable."""
    docker = shutil.which("docker")
    if not docker:
        return None
    names = subprocess.run([docker, "ps", "--filter", f"name=hpcdl-{name}-", "--format", "{{.Names}}"],
                           capture_output=True, text=True, check=False).stdout.split()
    if not names:
        return None
    total = 0.0
    for container in names:
        pid = subprocess.run([docker, "inspect", "--format", "{{.State.Pid}}", container],
                             capture_output=True, text=True, check=False).stdout.strip()
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            _id, controllers, path = line.split(":", 2)
            if "cpuacct" in controllers.split(","):
                usage = Path(f"/sys/fs/cgroup/{controllers}{path}/cpuacct.usage")
                if not usage.exists():
                    usage = Path(f"/sys/fs/cgroup/cpu,cpuacct{path}/cpuacct.usage")
                try:
                    total += int(usage.read_text()) / 1e9
                except (OSError, ValueError):
                    return None
                break
            if controllers == "" and _id == "0":
                try:
                    stat = dict(row.split() for row in Path(f"/sys/fs/cgroup{path}/cpu.stat").read_text().splitlines())
                    total += int(stat["usage_usec"]) / 1e6
                except (OSError, ValueError, KeyError):
                    return None
                break
        else:
            return None
    return round(total, 2)


def other_containers(prefix):
    """Containers running on this machine that are not the benchmark's (they share its CPUs)."""
    docker = shutil.which("docker")
    if not docker:
        return []
    proc = subprocess.run([docker, "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=False)
    return [n for n in proc.stdout.split() if not n.startswith(f"hpcdl-{prefix}-")]


# --------------------------------------------------------------------------- reporting
def verdict(value, limit):
    if value is None:
        return "not measured"
    return "met" if value <= limit else "MISSED"


def compiles_verdict(compile_counts):
    """0 compiles is only a finding when the Compile task was reached (and skipped)."""
    if not compile_counts["seen"]:
        return "not measured (task not reached)"
    return "met" if compile_counts["changed"] == TARGET_RERUN_COMPILES else "MISSED"


def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


# The runs of one node count, in the order they are made: (key, label).
RUNS = (("cold_run", "cold"), ("rerun", "rerun"), ("noop", "no-op"),
        ("mitogen_cold_run", "mitogen cold"), ("mitogen_rerun", "mitogen rerun"), ("mitogen_noop", "mitogen no-op"))


def print_table(result):
    """Per play: seconds of each site.yml run; per role: host-seconds; then wall time and CPU per run."""
    runs = [(key, label) for key, label in RUNS if result.get(key) and not key.endswith("noop")]
    if not runs:
        return
    stages, roles = [], []
    for key, _label in runs:
        stages += [s["stage"] for s in result[key]["stages"] if s["stage"] not in stages]
        roles += [r["role"] for r in result[key]["roles"] if r["role"] not in roles]
    width = max(len(x) for x in [*stages, *roles, "controller CPU s (user+sys)", "ansible start-up and wrap-up"]) + 2
    say("  " + " " * width + "".join(f"{label + ' s':>16}" for _key, label in runs))

    def row(name, values):
        say(f"  {name:<{width}}" + "".join(f"{v:>16.1f}" if v is not None else f"{'-':>16}" for v in values))

    say("  per play (wall time):")
    row("ansible start-up and wrap-up", [result[key]["overhead_s"] for key, _ in runs])
    for stage in stages:
        row(stage, [next((s["seconds"] for s in result[key]["stages"] if s["stage"] == stage), None)
                    for key, _ in runs])
    say("  per role (seconds its tasks ran, summed over the hosts):")
    for role in roles:
        row(role, [next((r["host_seconds"] for r in result[key]["roles"] if r["role"] == role), None)
                   for key, _ in runs])
    row("total (ansible-playbook wall time)", [result[key]["wall_s"] for key, _ in runs])
    row("controller CPU s (user+sys)", [result[key]["cpu_s"] for key, _ in runs])
    row("lab containers' CPU s", [result[key].get("lab_cpu_s") for key, _ in runs])


def report_count(result):
    n = result["nodes"]
    say()
    say(f"== {result['lab']}: {n} gpu node{'s' if n > 1 else ''} + jump, forks {result['forks']} ==")
    if "error" in result:
        say(f"lab FAILED: {result['error']}")
        return
    say(f"lab up: {result['lab_up_s']:.1f} s ({'cold: lab taken down first' if result['cold'] else 'lab reused'})"
        + (f"; other containers on this machine: {len(result['other_containers'])}" if result.get("other_containers")
           else ""))
    if result.get("cold_run") is None:
        return
    say(f"{result['cold_run']['playbook']}, {'cold' if result['cold'] else 'first (lab reused, not cold)'} converge "
        "then rerun:")
    print_table(result)
    for key, label in RUNS:
        run = result.get(key)
        if run and run["rc"] != 0:
            say(f"{label} FAILED (rc {run['rc']}), log {run['log']}")
            for line in run["fatal_lines"]:
                say(f"    {line[:200]}")
    if "mitogen_skipped" in result:
        say(f"mitogen: {result['mitogen_skipped']}")
    for prefix, name in (("", "plain ssh"), ("mitogen_", "mitogen")):
        rerun, noop = result.get(prefix + "rerun"), result.get(prefix + "noop")
        t = result.get("targets", {}).get(prefix or "plain")
        if not rerun or not noop or not t:
            continue
        say(f"-- {name} --")
        say(f"{'rerun wall time:':<28}{rerun['wall_s']:8.1f} s   controller CPU {rerun['cpu_s']:.1f} s, "
            f"{rerun['tasks']} task results")
        say(f"{'no-op wall time:':<28}{noop['wall_s']:8.1f} s   controller CPU {noop['cpu_s']:.1f} s   "
            "(bench/noop.yml: gather facts + ping)")
        say(f"{'rerun / no-op:':<28}{t['rerun_over_noop']['value']:8.2f}     target <= {TARGET_RERUN_OVER_NOOP:g}: "
            f"{t['rerun_over_noop']['verdict']}   (CPU: {ratio(rerun['cpu_s'], noop['cpu_s'])})")
        say(f"{'changed tasks on rerun:':<28}{rerun['changed']:8d}     target = {TARGET_RERUN_CHANGED}: "
            f"{t['rerun_changed']['verdict']}")
        for task in rerun["changed_tasks"]:
            say(f"    changed: {task}")
        compiles = rerun["compile"]
        seen = (f"   (Compile ran {compiles['seen']}x: {compiles['changed']} changed, {compiles['skipping']} skipping)"
                if compiles["seen"] else "")
        say(f"{'Tengine compiles on rerun:':<28}{compiles['changed']:8d}     target = {TARGET_RERUN_COMPILES}: "
            f"{t['rerun_compiles']['verdict']}{seen}")
    runs = [(label, result[key]) for key, label in RUNS if result.get(key)]
    say("load avg (1 min) at start: " + ", ".join(f"{label} {run['load_avg_1m_at_start']:.2f}" for label, run in runs))


def targets_for(rerun, noop):
    value = ratio(rerun["wall_s"], noop["wall_s"])
    return {
        "rerun_changed": {"value": rerun["changed"], "target": f"= {TARGET_RERUN_CHANGED}",
                          "verdict": "met" if rerun["changed"] == TARGET_RERUN_CHANGED else "MISSED"},
        "rerun_over_noop": {"value": value, "target": f"<= {TARGET_RERUN_OVER_NOOP:g}",
                            "verdict": verdict(value, TARGET_RERUN_OVER_NOOP)},
        "rerun_compiles": {"value": rerun["compile"]["changed"], "target": f"= {TARGET_RERUN_COMPILES}",
                           "verdict": compiles_verdict(rerun["compile"])},
    }


def scaling(results, prefix=""):
    """The largest node count against the smallest: cold converge (the target) and rerun (shown)."""
    done = [r for r in results if r.get(prefix + "cold_run") and r[prefix + "cold_run"]["rc"] == 0]
    if len(done) < 2:
        return None
    small, large = min(done, key=lambda r: r["nodes"]), max(done, key=lambda r: r["nodes"])
    out = {"small_nodes": small["nodes"], "large_nodes": large["nodes"], "mitogen": bool(prefix)}
    for key, run_name in (("cold", prefix + "cold_run"), ("rerun", prefix + "rerun")):
        a, b = large.get(run_name), small.get(run_name)
        value = ratio(a["wall_s"], b["wall_s"]) if a and b and a["rc"] == 0 and b["rc"] == 0 else None
        out[key] = {"large_s": a and a["wall_s"], "small_s": b and b["wall_s"], "value": value,
                    "large_cpu_s": a and a["cpu_s"], "small_cpu_s": b and b["cpu_s"],
                    "large_lab_cpu_s": a and a.get("lab_cpu_s"), "small_lab_cpu_s": b and b.get("lab_cpu_s"),
                    # What the machine could give: its CPUs for the run's wall time (the nodes and the
                    # controller share them in the lab).
                    "large_cpu_capacity_s": a and round(a["wall_s"] * (os.cpu_count() or 1), 1),
                    "target": f"<= {TARGET_SCALING:g}" if key == "cold" else "none (shown)",
                    "verdict": verdict(value, TARGET_SCALING) if key == "cold" else "-"}
    return out


def report_scaling(scale):
    say()
    n_large, n_small = scale["large_nodes"], scale["small_nodes"]
    say(f"== scaling{' (mitogen)' if scale['mitogen'] else ''}: {n_large} nodes / {n_small} "
        f"node{'s' if n_small > 1 else ''} (ansible-playbook wall time) ==")
    for key, label in (("cold", "cold converge"), ("rerun", "rerun")):
        s = scale[key]
        if s["value"] is None:
            say(f"{label + ':':<16} not measured")
            continue
        target = f"target <= {TARGET_SCALING:g}: {s['verdict']}" if key == "cold" else "(no target)"
        say(f"{label + ':':<16}{s['large_s']:8.1f} s / {s['small_s']:8.1f} s = {s['value']:.2f}   {target}   "
            f"(controller CPU {s['large_cpu_s']:.1f} s / {s['small_cpu_s']:.1f} s)")
        if s.get("large_lab_cpu_s") is not None and s.get("small_lab_cpu_s") is not None:
            busy = s["large_cpu_s"] + s["large_lab_cpu_s"]
            say(f"{'':<16}the lab's containers used {s['large_lab_cpu_s']:.1f} s / {s['small_lab_cpu_s']:.1f} s "
                "of CPU; "
                f"with the controller, {busy:.1f} s of the {s['large_cpu_capacity_s']:.1f} s "
                f"{os.cpu_count()} CPUs give in {s['large_s']:.1f} s ({busy / s['large_cpu_capacity_s']:.0%} busy)")


def report_targets(results, scales):
    say()
    say("== targets ==")
    for r in results:
        for mode in ("plain", "mitogen"):
            targets = r.get("targets", {}).get(mode)
            if not targets:
                if mode == "plain":
                    say(f"  {r['lab']:<9} {'(plain ssh)':<10} not measured (a run failed)")
                continue
            for key, label in (("rerun_changed", "changed tasks on rerun"), ("rerun_over_noop", "rerun / no-op"),
                               ("rerun_compiles", "Tengine compiles on rerun")):
                t = targets[key]
                say(f"  {r['lab']:<9} {'(' + mode + ')':<10} {label:<27} {t['value']!s:>6}  target {t['target']:<6} "
                    f"{t['verdict']}")
    for scale in scales:
        s = scale["cold"]
        name = f"{scale['large_nodes']}n/{scale['small_nodes']}n cold wall time"
        mode = "(mitogen)" if scale["mitogen"] else "(plain)"
        say(f"  {'scaling':<9} {mode:<10} {name:<27} {s['value']!s:>6}  target {s['target']:<6} {s['verdict']}")


# --------------------------------------------------------------------------- main
def converge_lab(name, n, args, prefix, result, *, key_prefix="", mitogen=None):
    """Take lab `name` down (unless --skip-down), bring it up with n gpu nodes, converge it cold, rerun it,
    run the no-op; the figures go into result under key_prefix + cold_run / rerun / noop."""
    lab_log = prefix.with_name(prefix.name + f"-{key_prefix}lab.log")
    inventory = Path(tempfile.mkdtemp(prefix=f"hpcdl-{name}-"))
    result.setdefault("inventories", []).append(str(inventory))
    forks = result["forks"]
    try:
        if not args.skip_down:
            say(f"bench: {name}: lab down (so the lab is cold)")
            lab("down", name, lab_log)
        (inventory / "group_vars").symlink_to(ROOT / "inventories" / "lab" / "group_vars")
        say(f"bench: {name}: lab up --gpus {n}")
        result[key_prefix + "lab_up_s"] = lab("up", name, lab_log, "--gpus", str(n),
                                              "--inventory", str(inventory / "hosts.yml"))
        result["other_containers"] = other_containers(name)
        steps = [("cold_run", args.playbook, "cold" if result["cold"] else "first"), ("rerun", args.playbook, "rerun"),
                 ("noop", NOOP, "noop")]
        if mitogen and not key_prefix and args.mitogen and not args.mitogen_cold:
            steps += [("mitogen_rerun", args.playbook, "mitogen-rerun"), ("mitogen_noop", NOOP, "mitogen-noop")]
        for key, playbook, label in steps:
            run_mitogen = mitogen if (key_prefix or key.startswith("mitogen_")) else None
            label = key_prefix.replace("_", "-") + label if key_prefix else label
            say(f"bench: {name}: {Path(playbook).name} ({label}), forks {forks}, log {prefix.name}-{label}.log")
            extra = args.extra_vars if playbook != NOOP else ()
            before = reprovision_stage.counters(name)
            lab_cpu = lab_cpu_seconds(name)
            run = run_playbook(playbook, inventory, forks, prefix.with_name(f"{prefix.name}-{label}.log"), extra,
                               mitogen=run_mitogen)
            lab_after = lab_cpu_seconds(name)
            run["lab_cpu_s"] = round(lab_after - lab_cpu, 2) if lab_cpu is not None and lab_after is not None else None
            run["upstream"] = reprovision_stage.delta(reprovision_stage.counters(name), before)
            result[key_prefix + key] = run
            lab_text = f", the lab's containers {run['lab_cpu_s']:.1f} s" if run["lab_cpu_s"] is not None else ""
            say(f"bench: {name}: {label}: rc {run['rc']}, {run['wall_s']:.1f} s, controller CPU {run['cpu_s']:.1f} s"
                f"{lab_text}, changed {run['changed']}")
            if run["rc"] != 0:
                break
        if not key_prefix and n == 1 and args.reprovision and result.get("cold_run", {}).get("rc") == 0:
            say(f"bench: {name}: lab wipe gpu1, then reprovision.yml -l gpu1 (the cache warm)")
            result["reprovision"] = reprovision_stage.reprovision(name, inventory, forks, prefix, run_playbook)
    finally:
        if args.keep:
            say(f"bench: {name}: kept (--keep); inventory {inventory}; `lab/lab.py down --name {name}` removes it")
        else:
            say(f"bench: {name}: lab down")
            try:
                lab("down", name, lab_log)
            except LabFailed as exc:
                result.setdefault("error", str(exc))
                say(f"bench: {name}: {exc}")
            finally:
                shutil.rmtree(inventory, ignore_errors=True)


def bench_count(n, args, stamp, mitogen):
    name = f"{args.lab_prefix}-{n}"
    prefix = ARTIFACTS / f"site-{stamp}-{name}"
    result = {"lab": name, "nodes": n, "forks": args.forks or max(5, n + 1), "cold": not args.skip_down}
    if (args.mitogen or args.mitogen_cold) and not mitogen:
        result["mitogen_skipped"] = "not installed in .venv (`make mitogen`): measured without it only"
    try:
        if mitogen and args.mitogen_cold:
            converge_lab(name, n, args, prefix, result, key_prefix="mitogen_", mitogen=mitogen)
        converge_lab(name, n, args, prefix, result, mitogen=mitogen)
    except LabFailed as exc:
        result["error"] = str(exc)
        say(f"bench: {name}: {exc}")
    result["targets"] = {}
    for prefix_key, mode in (("", "plain"), ("mitogen_", "mitogen")):
        rerun, noop = result.get(prefix_key + "rerun"), result.get(prefix_key + "noop")
        if rerun and noop and noop["rc"] == 0:
            result["targets"][mode] = targets_for(rerun, noop)
    return result


def parse_nodes(text):
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"--nodes {text!r}: give node counts >= 1, comma-separated (1,4,8)")
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(prog="site_bench", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--nodes", type=parse_nodes, default=[1, 4, 8],
                        help="gpu node counts, one lab each (default: 1,4,8)")
    parser.add_argument("--forks", type=int, default=0,
                        help="ansible-playbook --forks (default: max(5, nodes + 1) per count; ansible.cfg says 10)")
    parser.add_argument("--mitogen", action="store_true",
                        help="also rerun and run the no-op under mitogen's strategy (`make mitogen` installs it)")
    parser.add_argument("--mitogen-cold", action="store_true",
                        help="also converge a fresh lab cold under mitogen first (one more lab cycle per count)")
    parser.add_argument("--lab-prefix", default="bench",
                        help="the labs are named PREFIX-<count> (default: bench, so bench-1, bench-4, ...)")
    parser.add_argument("--keep", action="store_true", help="leave each lab up at the end (default: take it down)")
    parser.add_argument("--skip-down", action="store_true",
                        help="do not take the lab down first (reuses a kept lab: the first converge is then not cold)")
    parser.add_argument("--playbook", type=Path, default=SITE,
                        help="the playbook to converge (default: playbooks/site.yml; a stage playbook times it alone)")
    parser.add_argument("--no-reprovision", dest="reprovision", action="store_false",
                        help="skip the 1-node lab's re-provision stage (lab wipe gpu1, playbooks/reprovision.yml)")
    parser.add_argument("-e", "--extra-vars", action="append", default=[],
                        help="passed to the converge runs (not the no-op), as ansible-playbook -e")
    args = parser.parse_args(argv)
    args.playbook = args.playbook.resolve()
    if not (VENV_BIN / "ansible-playbook").exists():
        parser.error(f"{VENV_BIN / 'ansible-playbook'} is missing: run `make venv` first")
    if not args.playbook.is_file():
        parser.error(f"{args.playbook}: no such playbook")
    mitogen = mitogen_plugins() if (args.mitogen or args.mitogen_cold) else None

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    report = ARTIFACTS / f"site-{stamp}.json"
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True,
                         check=False).stdout.strip()
    data = {"started": datetime.datetime.now().isoformat(timespec="seconds"), "commit": git,
            "playbook": str(args.playbook.relative_to(ROOT)), "nodes": args.nodes, "cpus": os.cpu_count(),
            "mitogen": str(mitogen) if mitogen else None,
            "load_avg_at_start": os.getloadavg(), "results": []}
    say(f"bench: {data['playbook']} on labs of {', '.join(map(str, args.nodes))} gpu node(s); commit {git}; "
        f"{os.cpu_count()} CPUs, load {data['load_avg_at_start'][0]:.2f}; "
        f"mitogen {'from ' + str(mitogen) if mitogen else 'not measured'}; report {report.relative_to(ROOT)}")
    status = 0
    started = time.monotonic()
    try:
        for n in args.nodes:
            result = bench_count(n, args, stamp, mitogen)
            data["results"].append(result)
            runs = [result.get(key) for key, _label in RUNS]
            if any(r and r["rc"] != 0 for r in runs):
                status = max(status, 1)
            report.write_text(json.dumps(data, indent=2) + "\n")
            if "error" in result:
                status = 2
                break
    finally:
        data["scaling"] = [s for s in (scaling(data["results"]), scaling(data["results"], "mitogen_")) if s]
        data["reprovision_targets"] = reprovision_stage.targets(data["results"])
        data["bench_wall_s"] = round(time.monotonic() - started, 1)
        data["exit_status"] = status
        report.write_text(json.dumps(data, indent=2) + "\n")

    for result in data["results"]:
        report_count(result)
    for scale in data["scaling"]:
        report_scaling(scale)
    report_targets(data["results"], data["scaling"])
    reprovision_stage.report(data["results"], data["reprovision_targets"], say)
    say()
    say(f"bench: {data['bench_wall_s']:.0f} s in all; figures in {report.relative_to(ROOT)}, "
        f"logs in {ARTIFACTS.relative_to(ROOT)}/site-{stamp}-*; exit status {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark playbooks/site.yml on fresh labs: wall time per stage, rerun, no-op floor, scaling.

    .venv/bin/python bench/site_bench.py [--nodes 1,4] [--forks N] [--keep] [--skip-down]
    make bench BENCH_ARGS="--nodes 1,4"

For each node count N in --nodes, on a lab of its own named bench-N (taken down first, so the
first converge is cold; taken down again at the end unless --keep):
  1. `lab/lab.py up --name bench-N --gpus N` writes hosts.yml into a temporary inventory folder whose
     group_vars is a link to inventories/lab/group_vars: exactly the demo's settings;
  2. site.yml, cold: wall time per stage (each play is attributed to the playbook file it was loaded
     from, via the callback in bench/callback_plugins, so the two "reach" plays of site.yml and every
     imported stage playbook get a row of their own);
  3. site.yml again: wall time, changed tasks (PLAY RECAP), Tengine compiles
     (`TASK [hpcdl.gpu.tengine : Compile]` reporting changed);
  4. bench/noop.yml (gather facts + ping on the same hosts): the floor a rerun is compared to.
Then the targets, next to the figures: rerun changed = 0, rerun / no-op <= 2, no compile on the
rerun, largest count / 1 node <= 1.5 (cold and rerun wall time each).

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
TARGET_RERUN_OVER_NOOP = 2.0
TARGET_RERUN_COMPILES = 0
TARGET_SCALING = 1.5

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


def ansible_env(events):
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
    return env


def run_playbook(playbook, inventory, forks, log, extra_vars=(), *, limit=None):
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
        out.write(f"# {' '.join(args)}\n")
        out.flush()
        proc = subprocess.run(args, cwd=ROOT, env=ansible_env(events), stdout=out, stderr=subprocess.STDOUT,
                              check=False)
    ended = time.monotonic()
    text = log.read_text()
    stages, overhead = stage_times(read_events(events), started, ended)
    recap = parse_recap(text)
    changed_tasks = [f"{e['host']}: {e['task']}" for e in read_events(events) if e["event"] == "changed"]
    return {
        "playbook": str(Path(playbook).relative_to(ROOT)),
        "rc": proc.returncode,
        "wall_s": round(ended - started, 2),
        "load_avg_1m_at_start": load,
        "stages": [dict(s, seconds=round(s["seconds"], 2)) for s in stages],
        "overhead_s": round(overhead, 2),
        "recap": recap,
        "changed": sum(h.get("changed", 0) for h in recap.values()),
        "failed": sum(h.get("failed", 0) + h.get("unreachable", 0) for h in recap.values()),
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


def other_containers():
    """Containers running on this machine that are not the benchmark's (they share its CPUs)."""
    docker = shutil.which("docker")
    if not docker:
        return []
    proc = subprocess.run([docker, "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=False)
    return [n for n in proc.stdout.split() if not n.startswith("hpcdl-bench-")]


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


def print_stages(cold, rerun, first_label):
    rows = [s["stage"] for s in cold["stages"]]
    for s in (rerun or {}).get("stages", []):
        if s["stage"] not in rows:
            rows.append(s["stage"])
    width = max(len(r) for r in [*rows, "total (ansible-playbook wall time)"])
    cold_by = {s["stage"]: s["seconds"] for s in cold["stages"]}
    rerun_by = {s["stage"]: s["seconds"] for s in (rerun or {}).get("stages", [])}

    def cell(table, key):
        return f"{table[key]:9.1f}" if key in table else f"{'-':>9}"

    def figure(run, key):
        return f"{run[key]:9.1f}" if run else f"{'-':>9}"

    say(f"  {'stage (playbook)':<{width}} {first_label + ' s':>9} {'rerun s':>9}")
    say(f"  {'ansible start-up and wrap-up':<{width}} {figure(cold, 'overhead_s')} {figure(rerun, 'overhead_s')}")
    for row in rows:
        say(f"  {row:<{width}} {cell(cold_by, row)} {cell(rerun_by, row)}")
    say(f"  {'total (ansible-playbook wall time)':<{width}} {figure(cold, 'wall_s')} {figure(rerun, 'wall_s')}")


def report_count(result):
    n = result["nodes"]
    say()
    say(f"== {result['lab']}: {n} gpu node{'s' if n > 1 else ''} + jump, forks {result['forks']} ==")
    if "error" in result:
        say(f"lab FAILED: {result['error']}")
        return
    say(f"lab up: {result['lab_up_s']:.1f} s ({'cold: lab taken down first' if result['cold'] else 'lab reused'})")
    cold, rerun, noop = result.get("cold_run"), result.get("rerun"), result.get("noop")
    if cold is None:
        return
    label = "cold" if result["cold"] else "first (lab reused, not cold)"
    say(f"{cold['playbook']}, {label} converge then rerun, wall time per stage:")
    print_stages(cold, rerun, "cold" if result["cold"] else "first")
    for run_name, run in (("first converge", cold), ("rerun", rerun), ("no-op", noop)):
        if run and run["rc"] != 0:
            say(f"{run_name} FAILED (rc {run['rc']}), log {run['log']}")
            for line in run["fatal_lines"]:
                say(f"    {line[:200]}")
    if rerun is None or noop is None:
        return
    t = result["targets"]
    say(f"{'rerun wall time:':<28}{rerun['wall_s']:8.1f} s")
    say(f"{'no-op wall time:':<28}{noop['wall_s']:8.1f} s   (bench/noop.yml: gather facts + ping)")
    say(f"{'rerun / no-op:':<28}{t['rerun_over_noop']['value']:8.2f}     target <= {TARGET_RERUN_OVER_NOOP:g}: "
        f"{t['rerun_over_noop']['verdict']}")
    say(f"{'changed tasks on rerun:':<28}{rerun['changed']:8d}     target = {TARGET_RERUN_CHANGED}: "
        f"{t['rerun_changed']['verdict']}")
    for task in rerun["changed_tasks"]:
        say(f"    changed: {task}")
    compiles = rerun["compile"]
    seen = (f"   (Compile ran {compiles['seen']}x: {compiles['changed']} changed, {compiles['skipping']} skipping)"
            if compiles["seen"] else "")
    say(f"{'Tengine compiles on rerun:':<28}{compiles['changed']:8d}     target = {TARGET_RERUN_COMPILES}: "
        f"{t['rerun_compiles']['verdict']}{seen}")
    say(f"{'load avg (1 min) at start:':<28}cold {cold['load_avg_1m_at_start']:.2f}, "
        f"rerun {rerun['load_avg_1m_at_start']:.2f}, no-op {noop['load_avg_1m_at_start']:.2f}")


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


def scaling(results):
    done = [r for r in results if r.get("cold_run") and r["cold_run"]["rc"] == 0]
    if len(done) < 2:
        return None
    small, large = min(done, key=lambda r: r["nodes"]), max(done, key=lambda r: r["nodes"])
    out = {"small_nodes": small["nodes"], "large_nodes": large["nodes"]}
    for key, run_name in (("cold", "cold_run"), ("rerun", "rerun")):
        a, b = large.get(run_name), small.get(run_name)
        value = ratio(a["wall_s"], b["wall_s"]) if a and b and a["rc"] == 0 and b["rc"] == 0 else None
        out[key] = {"large_s": a and a["wall_s"], "small_s": b and b["wall_s"], "value": value,
                    "target": f"<= {TARGET_SCALING:g}", "verdict": verdict(value, TARGET_SCALING)}
    return out


def report_scaling(scale):
    say()
    n_large, n_small = scale["large_nodes"], scale["small_nodes"]
    say(f"== scaling: {n_large} nodes / {n_small} node{'s' if n_small > 1 else ''} "
        f"(ansible-playbook wall time) ==")
    for key, label in (("cold", "cold converge"), ("rerun", "rerun")):
        s = scale[key]
        if s["value"] is None:
            say(f"{label + ':':<16} not measured")
            continue
        say(f"{label + ':':<16}{s['large_s']:8.1f} s / {s['small_s']:8.1f} s = {s['value']:.2f}   "
            f"target <= {TARGET_SCALING:g}: {s['verdict']}")


def report_targets(results, scale):
    say()
    say("== targets ==")
    for r in results:
        for key, label in (("rerun_changed", "changed tasks on rerun"), ("rerun_over_noop", "rerun / no-op"),
                           ("rerun_compiles", "Tengine compiles on rerun")):
            t = r.get("targets", {}).get(key)
            if t:
                say(f"  {r['lab']:<9} {label:<27} {t['value']!s:>6}  target {t['target']:<6} {t['verdict']}")
            else:
                say(f"  {r['lab']:<9} {label:<27} {'-':>6}  not measured (a run failed)")
    if scale:
        for key, label in (("cold", "cold wall time"), ("rerun", "rerun wall time")):
            s = scale[key]
            name = f"{scale['large_nodes']}n/{scale['small_nodes']}n {label}"
            say(f"  {'scaling':<9} {name:<27} {s['value']!s:>6}  target {s['target']:<6} {s['verdict']}")


# --------------------------------------------------------------------------- main
def bench_count(n, args, stamp):
    name = f"bench-{n}"
    forks = args.forks or max(5, n + 1)
    prefix = ARTIFACTS / f"site-{stamp}-{name}"
    result = {"lab": name, "nodes": n, "forks": forks, "cold": not args.skip_down}
    lab_log = prefix.with_name(prefix.name + "-lab.log")
    inventory = Path(tempfile.mkdtemp(prefix=f"hpcdl-{name}-"))
    result["inventory"] = str(inventory)
    try:
        if not args.skip_down:
            say(f"bench: {name}: lab down (so the lab is cold)")
            lab("down", name, lab_log)
        (inventory / "group_vars").symlink_to(ROOT / "inventories" / "lab" / "group_vars")
        say(f"bench: {name}: lab up --gpus {n}")
        result["lab_up_s"] = lab("up", name, lab_log, "--gpus", str(n), "--inventory", str(inventory / "hosts.yml"))
        result["other_containers"] = other_containers()
        steps = (("cold_run", args.playbook, "cold" if result["cold"] else "first"), ("rerun", args.playbook, "rerun"),
                 ("noop", NOOP, "noop"))
        for key, playbook, label in steps:
            say(f"bench: {name}: {Path(playbook).name} ({label}), forks {forks}, log {prefix.name}-{label}.log")
            extra = args.extra_vars if playbook != NOOP else ()
            before = reprovision_stage.counters(name)
            run = run_playbook(playbook, inventory, forks, prefix.with_name(f"{prefix.name}-{label}.log"), extra)
            run["upstream"] = reprovision_stage.delta(reprovision_stage.counters(name), before)
            result[key] = run
            say(f"bench: {name}: {label}: rc {run['rc']}, {run['wall_s']:.1f} s, changed {run['changed']}")
            if run["rc"] != 0:
                break
        if result.get("rerun") and result.get("noop") and result["noop"]["rc"] == 0:
            result["targets"] = targets_for(result["rerun"], result["noop"])
        if n == 1 and args.reprovision and result.get("cold_run", {}).get("rc") == 0:
            say(f"bench: {name}: lab wipe gpu1, then reprovision.yml -l gpu1 (the cache warm)")
            result["reprovision"] = reprovision_stage.reprovision(name, inventory, forks, prefix, run_playbook)
    except LabFailed as exc:
        result["error"] = str(exc)
        say(f"bench: {name}: {exc}")
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
    return result


def parse_nodes(text):
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"--nodes {text!r}: give node counts >= 1, comma-separated (1,4)")
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(prog="site_bench", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--nodes", type=parse_nodes, default=[1, 4],
                        help="gpu node counts, one lab each (default: 1,4)")
    parser.add_argument("--forks", type=int, default=0,
                        help="ansible-playbook --forks (default: max(5, nodes + 1) per count; ansible.cfg says 10)")
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

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    report = ARTIFACTS / f"site-{stamp}.json"
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True,
                         check=False).stdout.strip()
    data = {"started": datetime.datetime.now().isoformat(timespec="seconds"), "commit": git,
            "playbook": str(args.playbook.relative_to(ROOT)), "nodes": args.nodes, "cpus": os.cpu_count(),
            "load_avg_at_start": os.getloadavg(), "results": []}
    say(f"bench: {data['playbook']} on labs of {', '.join(map(str, args.nodes))} gpu node(s); commit {git}; "
        f"{os.cpu_count()} CPUs, load {data['load_avg_at_start'][0]:.2f}; report {report.relative_to(ROOT)}")
    status = 0
    started = time.monotonic()
    try:
        for n in args.nodes:
            result = bench_count(n, args, stamp)
            data["results"].append(result)
            runs = [result.get(k) for k in ("cold_run", "rerun", "noop")]
            if any(r and r["rc"] != 0 for r in runs):
                status = max(status, 1)
            report.write_text(json.dumps(data, indent=2) + "\n")
            if "error" in result:
                status = 2
                break
    finally:
        data["scaling"] = scaling(data["results"])
        data["reprovision_targets"] = reprovision_stage.targets(data["results"])
        data["bench_wall_s"] = round(time.monotonic() - started, 1)
        data["exit_status"] = status
        report.write_text(json.dumps(data, indent=2) + "\n")

    for result in data["results"]:
        report_count(result)
    if data["scaling"]:
        report_scaling(data["scaling"])
    report_targets(data["results"], data["scaling"])
    reprovision_stage.report(data["results"], data["reprovision_targets"], say)
    say()
    say(f"bench: {data['bench_wall_s']:.0f} s in all; figures in {report.relative_to(ROOT)}, "
        f"logs in {ARTIFACTS.relative_to(ROOT)}/site-{stamp}-*; exit status {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark's re-provision stage and its upstream figures (bench/site_bench.py calls it).

Upstream bytes are counted where they cross to upstream, by the lab itself (`lab/lab.py upstream`):
the bytes the lab's internet host served (its artifacts over HTTP, its registry, DNS) and the bytes
the jump host, with the gpu nodes it NATs, sent to and received from the world outside the lab
(counting rules on this machine's DOCKER-USER chain). Never estimated.

- `counters(lab)`, `delta(after, before)`: the lab's counters, and what a run moved;
- `reprovision(lab, inventory, forks, prefix, run_playbook)`: on a lab whose site.yml ran (the cache
  warm), `lab/lab.py wipe` gpu1 (a bare node, same address, new host key), then
  `playbooks/reprovision.yml -l gpu1`: wall time of each, upstream bytes of the two together;
- `targets(results)` and `report(...)`: (b) re-provision upstream < 1 MB, (b) wall <= 0.6 x (a) the
  1-node cold run, (c) the largest fleet's cold upstream <= 1.1 x (a).
Standard library only.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPROVISION = ROOT / "playbooks" / "reprovision.yml"
TARGET_WARM_BYTES = 1_000_000
TARGET_WARM_OVER_COLD = 0.6
TARGET_FLEET_OVER_ONE = 1.1
NODE = "gpu1"


def counters(lab):
    """The lab's upstream counters now (bytes), or None when they cannot be read."""
    proc = subprocess.run([sys.executable, str(ROOT / "lab" / "lab.py"), "upstream", "--name", lab],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)


def delta(after, before):
    if after is None or before is None:
        return None
    return {key: after[key] - before.get(key, 0) for key in after}


def reprovision(lab, inventory, forks, prefix, run_playbook):
    """Wipe gpu1 and re-provision it; the figures (wall times, upstream bytes, the playbook's run)."""
    log = prefix.with_name(f"{prefix.name}-reprovision.log")
    before = counters(lab)
    started = time.monotonic()
    with log.with_name(f"{prefix.name}-wipe.log").open("w") as out:
        wipe = subprocess.run([sys.executable, str(ROOT / "lab" / "lab.py"), "wipe", "--name", lab, NODE],
                              cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    result = {"wipe_s": round(time.monotonic() - started, 2), "wipe_rc": wipe.returncode}
    if wipe.returncode != 0:
        return result
    run = run_playbook(REPROVISION, inventory, forks, log, limit=NODE)
    result.update(run=run, wall_s=run["wall_s"], upstream=delta(counters(lab), before))
    return result


def _bytes(figures):
    return (figures or {}).get("total")


def targets(results):
    """(b) and (c) against (a): the 1-node lab's cold run, its re-provision, the largest fleet's cold run."""
    one = next((r for r in results if r["nodes"] == 1 and r.get("cold_run")), None)
    fleet = max((r for r in results if r["nodes"] > 1 and r.get("cold_run")), key=lambda r: r["nodes"], default=None)
    out = {}
    if one is None:
        return out
    cold, warm = one["cold_run"], one.get("reprovision") or {}
    ok = cold["rc"] == 0 and (warm.get("run") or {}).get("rc") == 0
    value = _bytes(warm.get("upstream")) if ok else None
    out["reprovision_bytes"] = {"value": value, "target": f"< {TARGET_WARM_BYTES}",
                                "verdict": "not measured" if value is None else
                                ("met" if value < TARGET_WARM_BYTES else "MISSED")}
    value = round(warm["wall_s"] / cold["wall_s"], 2) if ok else None
    out["reprovision_over_cold"] = {"value": value, "target": f"<= {TARGET_WARM_OVER_COLD:g}",
                                    "verdict": "not measured" if value is None else
                                    ("met" if value <= TARGET_WARM_OVER_COLD else "MISSED")}
    if fleet:
        a, c = _bytes(cold.get("upstream")), _bytes(fleet["cold_run"].get("upstream"))
        value = round(c / a, 2) if a and c is not None and fleet["cold_run"]["rc"] == 0 else None
        out["fleet_over_one_bytes"] = {"value": value, "nodes": fleet["nodes"],
                                       "target": f"<= {TARGET_FLEET_OVER_ONE:g}",
                                       "verdict": "not measured" if value is None else
                                       ("met" if value <= TARGET_FLEET_OVER_ONE else "MISSED")}
    return out


def _mb(figures):
    value = _bytes(figures)
    return "not counted" if value is None else f"{value / 1e6:.2f} MB"


def report(results, found, say):
    say()
    say("== re-provision and upstream bytes (lab/lab.py upstream: internet host served + jump <-> outside) ==")
    for r in results:
        for key, label in (("cold_run", "cold"), ("rerun", "rerun")):
            run = r.get(key)
            if run and "upstream" in run:
                say(f"  {r['lab']:<9} site.yml {label:<6} {run['wall_s']:8.1f} s   upstream {_mb(run['upstream'])}"
                    f"   {json.dumps(run['upstream'])}")
        warm = r.get("reprovision")
        if warm:
            if warm.get("wipe_rc"):
                say(f"  {r['lab']:<9} lab wipe {NODE} FAILED (rc {warm['wipe_rc']})")
                continue
            say(f"  {r['lab']:<9} wipe {NODE} {warm['wipe_s']:8.1f} s; reprovision.yml -l {NODE} "
                f"{warm['wall_s']:8.1f} s (rc {warm['run']['rc']}), upstream {_mb(warm.get('upstream'))}   "
                f"{json.dumps(warm.get('upstream'))}")
    for key, label in (("reprovision_bytes", "(b) re-provision upstream bytes"),
                       ("reprovision_over_cold", "(b) wall / (a) cold wall"),
                       ("fleet_over_one_bytes", "(c) fleet cold bytes / (a)")):
        t = found.get(key)
        if t:
            say(f"  {label:<34} {t['value']!s:>10}  target {t['target']:<10} {t['verdict']}")

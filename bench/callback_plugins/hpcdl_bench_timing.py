"""Timing events for bench/site_bench.py: one JSON object a line, written where HPCDL_BENCH_EVENTS says.

Not part of the collection: bench/site_bench.py loads it (ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=hpcdl_bench_timing) next to the default stdout callback. It records when each
play starts and the file it was loaded from (so a play imported by site.yml is attributed to its stage
playbook), when each task starts and ends on each host (with its role, so that the time is counted per
role), every task result that reported a change or a failure, and the closing statistics.
Times are time.monotonic(), the clock the benchmark script reads too.
"""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: hpcdl_bench_timing
type: aggregate
short_description: play start times and changed tasks, as JSON lines, for bench/site_bench.py
description:
  - Writes one JSON object a line to the file named by the environment variable HPCDL_BENCH_EVENTS
    (nothing when it is unset).
requirements:
  - enabled in callbacks_enabled (ANSIBLE_CALLBACKS_ENABLED=hpcdl_bench_timing)
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "hpcdl_bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("HPCDL_BENCH_EVENTS")

    def _emit(self, event, **fields):
        if not self._path:
            return
        record = {"event": event, "t": time.monotonic(), **fields}
        with open(self._path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")

    def v2_playbook_on_start(self, playbook):
        self._emit("playbook_start", path=getattr(playbook, "_file_name", ""))

    def v2_playbook_on_play_start(self, play):
        self._emit("play_start", name=play.get_name().strip(), path=play.get_path())

    def _result(self, status, result):
        task = result._task
        self._emit(status, host=result._host.get_name(), task=task.get_name(), path=task.get_path())

    @staticmethod
    def _role(task):
        role = getattr(task, "_role", None)
        return role.get_name() if role is not None else None

    def v2_runner_on_start(self, host, task):
        self._emit("task_start", host=host.get_name(), uuid=task._uuid)

    def _end(self, result):
        task = result._task
        self._emit("task_end", host=result._host.get_name(), uuid=task._uuid, role=self._role(task))

    def v2_runner_on_ok(self, result):
        self._end(result)
        if result._result.get("changed", False):
            self._result("changed", result)

    def v2_runner_on_skipped(self, result):
        self._end(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._end(result)
        if not ignore_errors:
            self._result("failed", result)

    def v2_runner_on_unreachable(self, result):
        self._end(result)
        self._result("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        self._emit("stats", hosts={h: stats.summarize(h) for h in hosts})

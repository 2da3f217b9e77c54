#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: gpu_bench_report
short_description: Compare gpu_bench results across hosts - price, performance, cost per unit of work
version_added: 1.0.0
description:
  - Runs on the controller (an action plugin). Reads the result the hpcdl.gpu.gpu_bench role keeps for
    each host of O(hosts) under O(report_dir)C(/results/<host>.json), and the result files of
    O(add_results) (earlier runs, other clouds), and writes one comparison into O(report_dir) - a text
    table (C(<basename>.txt)), JSON (C(<basename>.json)) and a PNG chart (C(<basename>.png)) of
    throughput and cost per unit of work.
  - Each row gives the host, its device (C(GPU:) or C(CPU:) - CPU figures are labelled CPU
    everywhere), matrix-multiply TFLOP/s per precision, copy bandwidths, ResNet-50 training
    images/s, the price per hour, the cost per 1,000 training images and per PFLOP of matrix
    multiply, and each key figure's ratio to the best row (costs only among rows of one currency).
  - A file is written only when its content changes (the report has no timestamp of its own), so
    a rerun over the same results reports no change. In check mode nothing is written.
  - A report folder that cannot be created, or an added file that is not a gpu_bench result, fails
    before anything is written, naming C(gpu_bench_report_dir) or C(gpu_bench_add_results).
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  action:
    support: full
    description: Runs on the controller.
  check_mode:
    support: full
    description: Reports what would change and writes nothing.
  diff_mode:
    support: none
    description: No diff.
options:
  report_dir:
    description: The folder on the controller that holds C(results/) and receives the report.
    type: path
    required: true
  hosts:
    description:
      - The hosts measured in this run, each a dict with C(host), C(price_per_hour) (a number or
        V(null)) and C(currency); their results are read from C(results/<host>.json).
    type: list
    elements: dict
    default: []
  add_results:
    description: More result files (paths on the controller) to compare, each with its own host name and price.
    type: list
    elements: path
    default: []
  validate_only:
    description: Only check that O(report_dir) can be created and that O(add_results) are gpu_bench results.
    type: bool
    default: false
  basename:
    description: The report files' name without extension.
    type: str
    default: gpu_bench_report
seealso:
  - name: The gpu_bench role
    description: Measures the hosts and calls this at the end of the play.
    link: https://example.invalid/hpcdl/gpu/roles/gpu_bench/README.md
'''

EXAMPLES = r'''
- name: Compare the hosts of this play with an AWS node measured last week
  hpcdl.gpu.gpu_bench_report:
    report_dir: /home/me/gpu-bench
    hosts:
      - host: hpc1
        price_per_hour: 37.5
        currency: CNY
    add_results:
      - /home/me/gpu-bench-aws/results/p2-1.json
  run_once: true
  register: report

- name: Show the table
  ansible.builtin.debug:
    msg: "{{ report.table }}"
  run_once: true
'''

RETURN = r'''
table:
  description: The comparison as text lines (a header, then one line per host).
  returned: unless validate_only
  type: list
  elements: str
rows:
  description: One dict per host - figures, price, costs and ratios (the JSON report's C(rows)).
  returned: unless validate_only
  type: list
  elements: dict
files:
  description: The report files, by kind (C(table), C(json), C(png)).
  returned: unless validate_only
  type: dict
  sample: {table: /home/me/gpu-bench/gpu_bench_report.txt, json: /home/me/gpu-bench/gpu_bench_report.json,
           png: /home/me/gpu-bench/gpu_bench_report.png}
written:
  description: The kinds of file that changed (would change, in check mode).
  returned: unless validate_only
  type: list
  elements: str
missing:
  description: Hosts of O(hosts) with no result kept yet (in check mode, before their first measurement).
  returned: unless validate_only
  type: list
  elements: str
msg:
  description: What was done.
  returned: always
  type: str
'''

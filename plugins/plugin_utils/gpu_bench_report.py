# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gpu_bench report, on the controller: results in, one comparison out.

- load_result / check_result: read a result file (the JSON the gpu_bench role keeps per host
  under <report dir>/results/, or one from another cloud or last week) and refuse anything that
  is not one of ours;
- check_report_dir: whether a folder can be created (or written) here, before anything runs;
- rows: one row per host - its figures, its price, the cost per 1,000 training images and per
  PFLOP of matrix multiply, and each key figure's ratio to the best;
- table, document, chart: the same rows as text lines, as JSON, as a PNG.

A CPU result is labelled CPU on every row, in the JSON and in the chart; it is never shown as a GPU
figure. Costs are compared only between rows priced in the same currency.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.hpcdl.gpu.plugins.plugin_utils.png_chart import Canvas, fit

RESULT_FORMAT = 'hpcdl.gpu.gpu_bench/1'
REPORT_FORMAT = 'hpcdl.gpu.gpu_bench_report/1'
PRECISIONS = ('fp32', 'tf32', 'bf16', 'fp16')
LABELS = ('CPU', 'GPU')


class ReportError(ValueError):
    """Input that is not what the report can use; the message names the file and what is wrong."""


# --------------------------------------------------------------------------------------------
# Input


def _positive(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def check_result(result, where):
    """Raise ReportError unless ``result`` is a gpu_bench result (``where`` names it in the message)."""
    if not isinstance(result, dict):
        raise ReportError('%s is not a gpu_bench result: it holds a JSON %s, not an object.' % (
            where, type(result).__name__))
    if result.get('format') != RESULT_FORMAT:
        raise ReportError('%s is not a gpu_bench result: its "format" is %s, not "%s".' % (
            where, json.dumps(result.get('format')), RESULT_FORMAT))
    problems = []
    if not isinstance(result.get('host'), str) or not result.get('host'):
        problems.append('no "host"')
    if result.get('label') not in LABELS:
        problems.append('"label" is %s, not CPU or GPU' % json.dumps(result.get('label')))
    workload = result.get('workload')
    if not isinstance(workload, dict) or not workload.get('version'):
        problems.append('no "workload" version')
    figures = result.get('figures')
    if not isinstance(figures, dict) or not figures:
        problems.append('no "figures"')
    else:
        for name in sorted(figures):
            figure = figures[name]
            if not isinstance(figure, dict) or not _positive(figure.get('median')):
                problems.append('figure %s has no positive median' % name)
            elif figure.get('label') != result.get('label'):
                problems.append('figure %s is labelled %s, the result %s' % (
                    name, json.dumps(figure.get('label')), json.dumps(result.get('label'))))
    price = result.get('price')
    if price is not None and not (isinstance(price, dict) and (
            price.get('per_hour') is None or _positive_or_zero(price.get('per_hour')))):
        problems.append('"price" is %s, not {"per_hour": a number of 0 or more, "currency": ...}' % json.dumps(price))
    if problems:
        raise ReportError('%s is not a usable gpu_bench result: %s.' % (where, '; '.join(problems)))
    return result


def _positive_or_zero(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def load_result(path):
    """A result file, checked; ReportError (naming the path) for anything else."""
    try:
        with open(path, 'rb') as handle:
            text = handle.read().decode('utf-8')
    except (IOError, OSError) as exc:
        raise ReportError('%s cannot be read: %s.' % (path, exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise ReportError('%s is not a gpu_bench result: it is not UTF-8 text.' % path) from None
    try:
        result = json.loads(text)
    except ValueError as exc:
        raise ReportError('%s is not a gpu_bench result: it is not JSON (%s).' % (path, exc)) from None
    return check_result(result, path)


def check_report_dir(path):
    """None when ``path`` is (or can be made) a folder this user can write in, else why not."""
    if not path or not os.path.isabs(path):
        return '%s is not an absolute path.' % json.dumps(path)
    probe = path
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        return '%s cannot be created: %s is not a folder.' % (path, probe)
    if not os.access(probe, os.W_OK | os.X_OK):
        return '%s cannot be %s: %s is not writable by this user.' % (
            path, 'written to' if probe == path else 'created', probe)
    return None


# --------------------------------------------------------------------------------------------
# Rows


def _median(result, name):
    figure = (result.get('figures') or {}).get(name)
    return figure.get('median') if isinstance(figure, dict) else None


def _device_text(result):
    device = result.get('device') or {}
    name = device.get('name') or 'unknown'
    if result.get('label') == 'GPU':
        count = device.get('count') or 1
        return 'GPU: %s%s' % ('%d x ' % count if count > 1 else '', name)
    threads = device.get('cpu_threads')
    return 'CPU: %s%s' % (name, ' (%d threads)' % threads if threads else '')


def make_row(result, source, price_per_hour=None, currency=None):
    """One row of the comparison from a result (its own price unless one is given)."""
    price = result.get('price') or {}
    if price_per_hour is None:
        price_per_hour, currency = price.get('per_hour'), price.get('currency')
    matmul = dict((p, _median(result, 'matmul_' + p)) for p in PRECISIONS)
    best = None
    for precision in PRECISIONS:
        value = matmul[precision]
        if value is not None and (best is None or value > matmul[best]):
            best = precision
    images = _median(result, 'resnet50_train')
    row = {
        'host': result['host'], 'label': result['label'], 'device': _device_text(result),
        'framework': (result.get('device') or {}).get('framework'),
        'workload_version': (result.get('workload') or {}).get('version'),
        'profile': result.get('profile'), 'measured_at': result.get('measured_at'), 'source': source,
        'matmul_tflops': matmul, 'matmul_best_tflops': matmul[best] if best else None,
        'matmul_best_precision': best.upper() if best else None,
        'copy_device_gbps': _median(result, 'copy_device'),
        'copy_host_to_device_gbps': _median(result, 'copy_host_to_device'),
        'resnet50_images_per_s': images,
        'resnet50': dict((k, ((result.get('figures') or {}).get('resnet50_train') or {}).get(k))
                         for k in ('batch', 'image', 'precision', 'model', 'parameters')),
        'price_per_hour': price_per_hour, 'currency': currency if price_per_hour is not None else None,
        'cost_per_1000_images': None, 'cost_per_pflop': None,
    }
    if price_per_hour is not None:
        if images:
            row['cost_per_1000_images'] = price_per_hour / (images * 3600.0) * 1000.0
        if row['matmul_best_tflops']:
            # An hour at T TFLOP/s is 3.6 T PFLOP.
            row['cost_per_pflop'] = price_per_hour / (row['matmul_best_tflops'] * 3.6)
    return row


def rank(rows):
    """Add each key figure's ratio to the best row (throughput: value / highest; cost: value / lowest,
    among rows of the same currency)."""
    for key in ('resnet50_images_per_s', 'matmul_best_tflops'):
        values = [r[key] for r in rows if r[key]]
        best = max(values) if values else None
        for r in rows:
            r[key + '_vs_best'] = r[key] / best if best and r[key] else None
    for key in ('cost_per_1000_images', 'cost_per_pflop'):
        for r in rows:
            same = [o[key] for o in rows if o[key] is not None and o['currency'] == r['currency']]
            best = min(same) if same else None
            r[key + '_vs_best'] = r[key] / best if best and r[key] is not None else None
    return rows


def rows(current, added):
    """current: [(result, price_per_hour, currency)] for the hosts of this run; added: [(result, path)]."""
    made = [make_row(result, 'measured on this host', price, currency) for result, price, currency in current]
    made += [make_row(result, 'added from %s' % path) for result, path in added]
    return rank(made)


# --------------------------------------------------------------------------------------------
# Output


def number(value):
    """A figure with three significant digits, never in exponent form; '-' for none."""
    if value is None:
        return '-'
    size = abs(value)
    if size >= 100:
        return '%.0f' % value
    if size >= 10:
        return '%.1f' % value
    if size >= 1:
        return '%.2f' % value
    digits = 2
    while size and size * 10 ** (digits + 1) < 100 and digits < 9:
        digits += 1
    return '%.*f' % (digits + 1, value) if size else '0'


def _ratio(value):
    return '' if value is None else ' (x%.2f)' % value


def _money(value, currency):
    return '-' if value is None else '%s %s' % (number(value), currency or '')


COLUMNS = ('host', 'measured', 'device', 'matmul TFLOP/s FP32/TF32/BF16/FP16', 'copy GB/s', 'H2D GB/s',
           'ResNet-50 img/s', 'price/hour', 'per 1,000 images', 'per PFLOP (matmul)')


def table(rows):
    """The comparison as aligned text lines: a header, then one line per host."""
    lines = [COLUMNS]
    for r in rows:
        when = (r.get('measured_at') or '')[:10] or '?'
        lines.append((
            r['host'],
            when + ('' if r['source'].startswith('measured') else ' (added)'),
            r['device'],
            '/'.join(number(r['matmul_tflops'].get(p)) for p in PRECISIONS) + ' %s' % r['label'],
            number(r['copy_device_gbps']) + ' ' + r['label'],
            number(r['copy_host_to_device_gbps']),
            number(r['resnet50_images_per_s']) + _ratio(r.get('resnet50_images_per_s_vs_best')) + ' ' + r['label'],
            _money(r['price_per_hour'], r['currency']),
            _money(r['cost_per_1000_images'], r['currency']) + _ratio(r.get('cost_per_1000_images_vs_best')),
            (_money(r['cost_per_pflop'], r['currency'])
             + (' %s' % r['matmul_best_precision'] if r['cost_per_pflop'] is not None else '')
             + _ratio(r.get('cost_per_pflop_vs_best'))),
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return ['  '.join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in lines]


NOTES = [
    'Figures are medians over repeats (ResNet-50: over timed training steps, warm-up excluded); '
    'each row says whether it ran on a GPU or on the CPU, and CPU figures are CPU figures.',
    'matmul: 2 n^3 floating-point operations per n x n product; copy: a device-to-device copy '
    'counting the bytes read and written; H2D: pinned host memory to the device.',
    'Cost per 1,000 training images = price per hour / (images/s x 3600) x 1000; cost per PFLOP = '
    'price per hour / (TFLOP/s x 3.6), at the host\'s fastest matmul precision.',
    'Ratios (xN) compare with the best row: throughput over the highest, cost over the lowest '
    'among rows priced in the same currency.',
]


def document(rows):
    """The JSON report (sorted keys; nothing in it changes unless a result or a price does)."""
    return json.dumps({'format': REPORT_FORMAT, 'rows': rows, 'table': table(rows), 'notes': NOTES},
                      indent=2, sort_keys=True) + '\n'


PANELS = (
    ('resnet50_images_per_s', 'ResNet-50 training, images/s (higher is better)', False),
    ('matmul_best_tflops', 'Matrix multiply, TFLOP/s at each host\'s fastest precision (higher is better)', False),
    ('cost_per_1000_images', 'Cost per 1,000 training images (lower is better; scaled per currency)', True),
    ('cost_per_pflop', 'Cost per PFLOP of matrix multiply (lower is better; scaled per currency)', True),
)
COLOURS = {'GPU': (31, 119, 180), 'CPU': (230, 126, 34)}
INK, GRID, MUTED = (33, 33, 33), (225, 225, 225), (110, 110, 110)


def _value_text(row, key, money):
    value = row[key]
    if value is None:
        return 'n/a'
    text = _money(value, row['currency']) if money else number(value)
    if key in ('matmul_best_tflops', 'cost_per_pflop'):
        text += ' ' + (row['matmul_best_precision'] or '')
    return text + ' ' + row['label']


def chart(rows, width=1000):
    """A PNG: one panel per figure (throughput and cost), one bar per host, coloured GPU or CPU."""
    scale, bar_h, gap = 2, 26, 8
    line_h = 10 * scale
    label_w, value_w = 330, 250
    bar_w = width - label_w - value_w - 30
    panel_h = line_h + 12 + len(rows) * (bar_h + gap) + 18
    height = 20 + line_h + 10 + line_h + 16 + len(PANELS) * panel_h
    canvas = Canvas(width, height)
    y = 16
    canvas.text(16, y, fit('hpcdl.gpu gpu_bench: %d host(s)' % len(rows), width - 32, scale), INK, scale)
    y += line_h + 8
    x = 16
    for label in LABELS[::-1]:
        canvas.rect(x, y + 2, 16, 16, COLOURS[label])
        x = canvas.text(x + 22, y, '%s figures' % label, INK, scale) + 24
    y += line_h + 14
    for key, title, money in PANELS:
        canvas.text(16, y, fit(title, width - 32, scale), INK, scale)
        y += line_h + 10
        scales = {}
        for r in rows:
            group = r['currency'] if money else None
            if r[key]:
                scales[group] = max(scales.get(group, 0), r[key])
        for r in rows:
            canvas.text(16, y + (bar_h - line_h) // 2, fit('%s (%s)' % (r['host'], r['label']), label_w - 24, scale),
                        INK, scale)
            canvas.rect(label_w, y, bar_w, bar_h, GRID)
            top = scales.get(r['currency'] if money else None)
            if r[key] and top:
                canvas.rect(label_w, y, max(2, int(round(bar_w * r[key] / top))), bar_h, COLOURS[r['label']])
            canvas.text(label_w + bar_w + 10, y + (bar_h - line_h) // 2,
                        fit(_value_text(r, key, money), value_w - 10, scale), MUTED if r[key] is None else INK, scale)
            y += bar_h + gap
        y += 18
    return canvas.png()

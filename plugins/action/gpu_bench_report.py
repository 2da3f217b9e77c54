# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin behind hpcdl.gpu.gpu_bench_report (documented in plugins/modules/gpu_bench_report.py).

It runs on the controller only: it reads the results kept under <report_dir>/results/ and the
added result files, and writes the comparison (text table, JSON, PNG) into report_dir, each file
only when its content changes, so a report of unchanged results changes nothing. In check mode it
says what would change and writes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.action import ActionBase

from ansible_collections.hpcdl.gpu.plugins.plugin_utils.gpu_bench_report import (
    ReportError,
    chart,
    check_report_dir,
    document,
    load_result,
    rows,
    table,
)

ARGUMENT_SPEC = {
    'report_dir': {'type': 'path', 'required': True},
    'hosts': {'type': 'list', 'elements': 'dict', 'default': []},
    'add_results': {'type': 'list', 'elements': 'path', 'default': []},
    'validate_only': {'type': 'bool', 'default': False},
    'basename': {'type': 'str', 'default': 'gpu_bench_report'},
}


def _write_if_changed(path, content, check_mode):
    """True when the file's content differs (and, outside check mode, was replaced atomically)."""
    try:
        with open(path, 'rb') as handle:
            if handle.read() == content:
                return False
    except (IOError, OSError):
        pass
    if check_mode:
        return True
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(content)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        report_dir = args['report_dir']
        problem = check_report_dir(report_dir)
        if problem:
            raise AnsibleActionFail('gpu_bench_report_dir: %s' % problem)
        added = []
        for path in args['add_results']:
            try:
                added.append((load_result(path), path))
            except ReportError as exc:
                raise AnsibleActionFail('gpu_bench_add_results: %s' % exc) from None
        current, missing = [], []
        for entry in args['hosts']:
            host = entry.get('host')
            path = os.path.join(report_dir, 'results', '%s.json' % host)
            if not os.path.exists(path):
                missing.append(host)
                continue
            try:
                measured = load_result(path)
            except ReportError as exc:
                raise AnsibleActionFail('The result kept for %s is damaged (remove it to measure %s again): %s'
                                        % (host, host, exc)) from None
            current.append((measured, entry.get('price_per_hour'), entry.get('currency')))
        if args['validate_only']:
            result.update(changed=False, msg='%s can be written; %d added and %d kept result(s) read.' % (
                report_dir, len(added), len(current)))
            return result
        made = rows(current, added)
        lines = table(made)
        base = os.path.join(report_dir, args['basename'])
        files = {'table': base + '.txt', 'json': base + '.json', 'png': base + '.png'}
        contents = {'table': to_bytes('\n'.join(lines) + '\n'), 'json': to_bytes(document(made)),
                    'png': chart(made)}
        check_mode = bool(self._task.check_mode)
        if not check_mode and not os.path.isdir(report_dir):
            os.makedirs(report_dir)
        changed = [name for name in ('table', 'json', 'png')
                   if _write_if_changed(files[name], contents[name], check_mode)] if made else []
        result.update(
            changed=bool(changed), rows=made, table=lines, files=files, written=changed, missing=missing,
            msg='%d host(s) compared%s%s.' % (
                len(made), '; no result yet for %s' % ', '.join(missing) if missing else '',
                '' if made else ' (nothing to report: no file written)'))
        return result

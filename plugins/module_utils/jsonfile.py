# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JSON records the collection's modules keep on a host (hpcdl.gpu.converged's, the dataset
modules' state files): read one back, or replace one atomically. Standard library only; Python 2.7
and 3.6+."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import tempfile


def read_json(path):
    """The JSON object in the file, or None when it is missing, unreadable or not an object."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def makedirs(path, mode=0o755):
    """The folder and its parents, made when missing (mode for those made); no error when it exists."""
    if not os.path.isdir(path):
        try:
            os.makedirs(path, mode)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise


def write_json(path, data, mode=0o644, folder_mode=0o755):
    """Replace the file atomically: a temporary file beside it (created 0600, so never readable by
    others before its mode is set), then a rename. A missing folder is made with folder_mode."""
    folder = os.path.dirname(path) or '.'
    makedirs(folder, folder_mode)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=folder)
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write('\n')
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

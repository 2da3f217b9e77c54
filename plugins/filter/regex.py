# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The regex_error filter: why a regular expression does not compile, or "" when it does.

Documented in regex_error.yml beside this file. A preflight asks this instead of letting the
``regex`` test raise and reading ``ansible_failed_result`` in a rescue: ansible-core 2.16 templates
that result, traceback included, and fails on the Jinja source the traceback quotes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types


def regex_error(pattern):
    """The error Python's ``re`` gives for ``pattern`` (as the ``regex`` test would raise it), else ""."""
    if not isinstance(pattern, string_types):
        raise AnsibleFilterError('regex_error: give the regular expression as a string, not %r.' % (pattern,))
    try:
        re.compile(pattern)
    except re.error as exc:
        return to_text(exc)
    return u''


class FilterModule(object):
    """Regular expression filters."""

    def filters(self):
        return {'regex_error': regex_error}

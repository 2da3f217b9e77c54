# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the docker role's image archives (docker_image_archives): where each one is kept
on the host, and the sentences that say which archives failed their checksum or download.

Documented in archive_file.yml, archive_checksum_problems.yml and archive_download_problems.yml
beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six.moves.urllib.parse import urlsplit

# get_url's words for a checksum that does not match (ansible.builtin.get_url).
_GET_URL_MISMATCH = re.compile(r'^The checksum for \S+ did not match (\w+); it was (\w+)\.?$')


def archive_file(archive):
    """The file name an archive is kept under on the host: its URL's last path part, else its src's."""
    if not isinstance(archive, dict):
        raise AnsibleFilterError('archive_file: expected a docker_image_archives entry, got %r' % (archive,))
    if archive.get('url'):
        name = posixpath.basename(urlsplit(archive['url']).path)
    else:
        name = posixpath.basename(archive.get('src') or '')
    if not name:
        raise AnsibleFilterError('archive_file: %s has no file name in its url or src' % archive.get('image'))
    return name


def archive_checksum_problems(stat_results):
    """One sentence per archive on the controller that is missing or whose sha256 differs.

    Takes the ``results`` of an ansible.builtin.stat loop (checksum_algorithm sha256) over the
    archives' ``src``; results without a ``stat`` (skipped items) are left out.
    """
    problems = []
    for result in stat_results or []:
        stat = result.get('stat')
        if stat is None:
            continue
        item = result.get('item') or {}
        expected = str(item.get('sha256', '')).lower()
        if not stat.get('exists'):
            problems.append('%s: %s does not exist on the controller.' % (item.get('image'), item.get('src')))
        elif stat.get('checksum') != expected:
            problems.append('%s: %s has sha256 %s, not %s.' % (
                item.get('image'), item.get('src'), stat.get('checksum'), expected))
    return problems


def archive_download_problems(results):
    """One sentence per archive whose download failed, from the ``results`` of a get_url loop.

    A checksum mismatch reads "the sha256 of the download is X, not the expected Y."; any other
    failure keeps get_url's own message.
    """
    problems = []
    for result in results or []:
        if not result.get('failed'):
            continue
        item = result.get('item') or {}
        message = (result.get('msg') or 'download failed').strip()
        found = _GET_URL_MISMATCH.match(message)
        if found:
            message = 'the sha256 of the download is %s, not the expected %s.' % (found.group(2), found.group(1))
        problems.append('%s from %s: %s' % (item.get('image'), item.get('url'), message))
    return problems


class FilterModule(object):
    """Image archive filters for the docker role."""

    def filters(self):
        return {
            'archive_file': archive_file,
            'archive_checksum_problems': archive_checksum_problems,
            'archive_download_problems': archive_download_problems,
        }

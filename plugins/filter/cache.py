# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cache_url and cache_image filters: where a download or an image comes from through the
jump host's cache (plugins/module_utils/cache.py, shared with the cache_fetch module).

Documented in cache_url.yml and cache_image.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types

from ansible_collections.hpcdl.gpu.plugins.module_utils.cache import CacheError
from ansible_collections.hpcdl.gpu.plugins.module_utils.cache import cache_image as _cache_image
from ansible_collections.hpcdl.gpu.plugins.module_utils.cache import cache_url as _cache_url


def cache_url(url, cache):
    """``url`` through apt-cacher-ng at ``cache`` (its base URL); ``url`` when ``cache`` is empty."""
    if not isinstance(url, string_types):
        raise AnsibleFilterError('cache_url: expected a URL, got %r' % (url,))
    try:
        return _cache_url(url, cache or '')
    except CacheError as exc:
        raise AnsibleFilterError('cache_url: %s' % exc) from exc


def cache_image(name, host, registries):
    """What to pull through the cache's registry for the image ``name`` (a dict), or None."""
    if not isinstance(name, string_types):
        raise AnsibleFilterError('cache_image: expected an image name, got %r' % (name,))
    if not isinstance(registries, list):
        raise AnsibleFilterError('cache_image: the registries must be a list of {name, port}, got %r' % (registries,))
    try:
        return _cache_image(name, host or '', registries)
    except (CacheError, KeyError, ValueError, TypeError) as exc:
        raise AnsibleFilterError('cache_image: %s' % exc) from exc


class FilterModule(object):
    """Filters for the jump host's cache."""

    def filters(self):
        return {'cache_url': cache_url, 'cache_image': cache_image}

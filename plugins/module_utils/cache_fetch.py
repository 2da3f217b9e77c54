# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Download a file through the jump host's cache, its sha256 checked: the logic of ``hpcdl.gpu.cache_fetch``.

In order, stopping at the first copy whose sha256 is the expected one:

1. ``dest`` already holds it: nothing to do.
2. Through the cache (apt-cacher-ng, URL-prefix mode: ``cache.cache_url``).
3. A copy from the cache with the wrong sha256: asked again with ``Cache-Control: no-cache``,
   which makes apt-cacher-ng fetch it from upstream and replace its copy (the corrupt one is
   evicted). A second wrong copy means upstream serves it (or the checksum is wrong): failed, no
   fallback, since upstream would give the same bytes.
4. The cache failed to deliver (refused, timed out, an HTTP error, a short read: a full disk makes
   apt-cacher-ng cut the transfer): with ``fallback=upstream`` the URL itself, with a warning;
   with ``fallback=fail`` the module fails naming the cache.

Every copy is written to a temporary file beside ``dest`` and moved into place only once its
sha256 matches: nothing half-written is ever at ``dest``. ``run(params, check_mode, host)`` is pure
decision logic over ``host`` (``fetch(url, headers, path)``, ``warn(msg)``, ``install(tmp, dest)``),
so that unit tests drive it with a fake host; ``ModuleHost`` does it with an AnsibleModule.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import tempfile

from ansible_collections.hpcdl.gpu.plugins.module_utils.cache import CacheError, cache_url

ARGUMENT_SPEC = dict(
    url=dict(type='str', required=True),
    dest=dict(type='path', required=True),
    sha256=dict(type='str', required=True),
    cache=dict(type='str', default=''),
    fallback=dict(type='str', default='upstream', choices=['upstream', 'fail']),
    timeout=dict(type='int', default=30),
    use_proxy=dict(type='bool', default=False),
    validate_certs=dict(type='bool', default=True),
)
SHA256 = re.compile(r'^[0-9a-f]{64}$')
NO_CACHE = {'Cache-Control': 'no-cache', 'Pragma': 'no-cache'}
CHUNK = 1 << 20


class FetchError(Exception):
    """A download that did not complete: the sentence says what answered, or did not."""


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_beside(dest):
    directory = os.path.dirname(dest) or '.'
    handle, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(dest), suffix='.part', dir=directory)
    os.close(handle)
    return tmp


def run(params, check_mode, host):
    """Return the module's result: changed, dest, sha256, source, url (the one the copy came from)."""
    want = (params.get('sha256') or '').strip().lower()
    if want.startswith('sha256:'):
        want = want[len('sha256:'):]
    if not SHA256.match(want):
        return {'failed': True,
                'msg': 'sha256 must be 64 hex digits (the file\'s sha256), not %r.' % params.get('sha256')}
    url, dest, cache = params['url'], params['dest'], (params.get('cache') or '').rstrip('/')
    result = {'changed': False, 'dest': dest, 'sha256': want, 'url': url, 'cache': cache or None}
    if os.path.isdir(dest):
        return dict(result, failed=True, msg='dest %s is a folder: give the path of the file.' % dest)
    if os.path.isfile(dest) and sha256_file(dest) == want:
        return dict(result, source='present')
    if not os.path.isdir(os.path.dirname(dest) or '.'):
        return dict(result, failed=True, msg='The folder of %s does not exist.' % dest)
    try:
        via = cache_url(url, cache) if cache else None
    except CacheError as exc:
        return dict(result, failed=True, msg=str(exc))
    if check_mode:
        return dict(result, changed=True, source='cache' if via else 'upstream', url=via or url)

    tmp = _temp_beside(dest)
    try:
        outcome = _fetch_verified(params, host, (url, via, cache), want, tmp)
        if outcome.get('failed'):
            return dict(result, **outcome)
        host.install(tmp, dest)
        return dict(result, changed=True, **outcome)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fetch_verified(params, host, urls, want, tmp):
    url, via, cache = urls
    if via:
        try:
            got = _fetch(host, via, {}, tmp)
            if got == want:
                return {'source': 'cache', 'url': via}
            host.warn('%s came from the cache %s with sha256 %s, not %s: the cache\'s copy is corrupt. Asked '
                      'the cache to fetch it again from upstream (Cache-Control: no-cache), which replaces its copy.'
                      % (url, cache, got, want))
            got = _fetch(host, via, NO_CACHE, tmp)
            if got == want:
                return {'source': 'cache_refreshed', 'url': via}
            return {'failed': True, 'url': via, 'msg': (
                '%s has sha256 %s, not %s, also as fetched again from upstream through the cache %s: upstream '
                'serves these bytes, or the sha256 you gave is wrong. Nothing was written to %s.'
                % (url, got, want, cache, params['dest']))}
        except FetchError as exc:
            if params.get('fallback') == 'fail':
                return {'failed': True, 'url': via, 'msg': (
                    'The cache %s could not deliver %s: %s. Nothing was written to %s. Check the cache on the jump '
                    'host (systemctl status apt-cacher-ng; df -h /var/cache/apt-cacher-ng), or set the fallback to '
                    'upstream to download from %s meanwhile.' % (cache, url, exc, params['dest'], url))}
            host.warn('The cache %s could not deliver %s (%s): downloading it from upstream instead. Check the cache '
                      'on the jump host (systemctl status apt-cacher-ng; df -h /var/cache/apt-cacher-ng).'
                      % (cache, url, exc))
    try:
        got = _fetch(host, url, {}, tmp)
    except FetchError as exc:
        return {'failed': True, 'url': url, 'msg': 'Cannot download %s: %s. Nothing was written to %s.' % (
            url, exc, params['dest'])}
    if got != want:
        return {'failed': True, 'url': url, 'msg': (
            'The checksum for %s did not match %s; it was %s.' % (url, want, got))}
    return {'source': 'upstream', 'url': url}


def _fetch(host, url, headers, path):
    """Download url to path (truncated first); return its sha256. Raises FetchError."""
    return host.fetch(url, headers, path)


class ModuleHost(object):
    """What ``run`` needs, done through an AnsibleModule."""

    def __init__(self, module, fetch_url):
        self.module = module
        self.fetch_url = fetch_url

    def warn(self, msg):
        self.module.warn(msg)

    def install(self, tmp, dest):
        self.module.atomic_move(tmp, dest)

    def fetch(self, url, headers, path):
        params = self.module.params
        response, info = self.fetch_url(self.module, url, headers=headers or None, timeout=params['timeout'],
                                        use_proxy=params["use_proxy"], force=bool(headers), decompress=False)
        status = info.get('status')
        if response is None or status != 200:
            detail = str(info.get('msg') or 'no answer')
            if status and status > 0 and str(status) not in detail:
                detail = 'HTTP %s, %s' % (status, detail)
            raise FetchError(detail)
        expected = response.headers.get('Content-Length') if hasattr(response, 'headers') else None
        digest, size, cut = hashlib.sha256(), 0, None
        with open(path, 'wb') as out:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except Exception as exc:  # a transfer cut short: IncompleteRead, a reset, a timeout
                    cut = type(exc).__name__
                    break
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if cut:
            raise FetchError('the transfer stopped after %d bytes (%s)' % (size, cut))
        if expected is not None and str(size) != str(expected).strip():
            raise FetchError('the transfer stopped after %d of %s bytes' % (size, expected))
        return digest.hexdigest()


def run_module(module, fetch_url):
    try:
        result = run(module.params, module.check_mode, ModuleHost(module, fetch_url))
    except (IOError, OSError) as exc:
        result = {'failed': True, 'msg': '%s: %s' % (type(exc).__name__, exc)}
    if result.get('failed'):
        result.pop('failed')
        module.fail_json(**result)
    if os.path.exists(result['dest']):
        file_args = module.load_file_common_arguments(dict(module.params, path=result['dest']))
        result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'])
    module.exit_json(**result)

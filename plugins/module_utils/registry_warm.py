# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fill the jump host's pull-through registry with one image: the logic of ``hpcdl.gpu.registry_warm``.

Runs on the jump host, next to the registry (the Docker distribution registry 2.8 with
``proxy.remoteurl``). That registry, asked for a blob it does not have, fetches it from upstream
twice (once to store it, once more to stream it to the client) and once more per client asking
while the first fetch runs: a fleet pulling a 400 MB image cold would move it from upstream N+1
times. So the image is fetched here first, once, before any node pulls it:

1. its manifest by tag (or digest) through the registry; a manifest list or OCI index is resolved
   to the manifest of ``platform`` (the nodes' os/architecture); each document's sha256 is checked;
2. each blob (config, layers) that the registry's storage does not hold yet is asked for and the
   connection dropped after its first bytes: the registry's own fetch-and-store goes on alone,
   which moves each blob from upstream once;
3. the storage is watched until every blob is there (``timeout``).

The digest returned is the one the nodes then pull by (``<cache>/<repository>@<digest>``): it
was resolved here, by the registry that asked upstream over its own (TLS) connection, and reaches
the nodes over SSH, so a pull over the private network's plain HTTP is pinned to it.
``run(params, check_mode, host)`` decides; ``host`` (``get(url, headers)``, ``touch(url)``,
``exists(path)``, ``sleep(s)``, ``now()``) does, so that unit tests drive it with a fake.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import time

ARGUMENT_SPEC = dict(
    registry=dict(type='str', required=True),
    repository=dict(type='str', required=True),
    reference=dict(type='str', required=True),
    storage=dict(type='path', required=True),
    platform=dict(type='str', default='linux/amd64'),
    timeout=dict(type='int', default=1800),
    request_timeout=dict(type='int', default=30),
)
LIST_TYPES = ('application/vnd.docker.distribution.manifest.list.v2+json',
              'application/vnd.oci.image.index.v1+json')
MANIFEST_TYPES = ('application/vnd.docker.distribution.manifest.v2+json',
                  'application/vnd.oci.image.manifest.v1+json')
ACCEPT = ', '.join(LIST_TYPES + MANIFEST_TYPES)


class WarmError(Exception):
    """What went wrong, as a sentence."""


def blob_path(storage, digest):
    hexdigest = digest.split(':', 1)[1]
    return os.path.join(storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', hexdigest[:2], hexdigest, 'data')


def _platform_matches(entry, platform):
    """os/architecture[/variant] of a manifest list entry against the one wanted."""
    wanted = platform.split('/')
    plat = entry.get('platform') or {}
    if [plat.get('os'), plat.get('architecture')] != wanted[:2]:
        return False
    return len(wanted) < 3 or plat.get('variant') == wanted[2]


def _manifest(host, base, repository, reference):
    body, headers = host.get('%s/v2/%s/manifests/%s' % (base, repository, reference), {'Accept': ACCEPT})
    digest = 'sha256:' + hashlib.sha256(body).hexdigest()
    if reference.startswith('sha256:') and digest != reference:
        raise WarmError('the registry %s served %s@%s with sha256 %s: refused.' % (base, repository, reference, digest))
    try:
        document = json.loads(body.decode('utf-8'))
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise WarmError('the registry %s served no manifest for %s:%s.' % (base, repository, reference))
    media = document.get('mediaType') or headers.get('content-type', '').split(';')[0]
    return digest, media, document


def run(params, check_mode, host):
    base = params['registry'].rstrip('/')
    repository, reference = params['repository'], params['reference']
    result = {'changed': False, 'registry': base, 'repository': repository, 'reference': reference}
    try:
        digest, media, document = _manifest(host, base, repository, reference)
        result['digest'] = digest
        manifest_digest = digest
        if media in LIST_TYPES or 'manifests' in document:
            chosen = [m for m in document.get('manifests', []) if _platform_matches(m, params['platform'])]
            if not chosen:
                platforms = [m.get('platform') or {} for m in document.get('manifests', [])]
                offered = sorted(set('%s/%s' % (p.get('os'), p.get('architecture')) for p in platforms))
                raise WarmError('%s:%s has no image for %s (it has %s).'
                                % (repository, reference, params['platform'], ', '.join(offered) or 'none'))
            manifest_digest, media, document = _manifest(host, base, repository, chosen[0]['digest'])
        result['manifest'] = manifest_digest
        blobs = [document.get('config') or {}] + list(document.get('layers') or [])
        blobs = [b for b in blobs if b.get('digest')]
        missing = [b for b in blobs if not host.exists(blob_path(params['storage'], b['digest']))]
        result['blobs'] = [{'digest': b['digest'], 'size': b.get('size'), 'was_stored': b not in missing}
                           for b in blobs]
        result['size'] = sum(int(b.get('size') or 0) for b in blobs)
        result['fetched'] = sum(int(b.get('size') or 0) for b in missing)
        result['changed'] = bool(missing)
        if check_mode or not missing:
            return result
        for blob in missing:
            host.touch('%s/v2/%s/blobs/%s' % (base, repository, blob['digest']))
        deadline = host.now() + params['timeout']
        while True:
            left = [b for b in missing if not host.exists(blob_path(params['storage'], b['digest']))]
            if not left:
                return result
            if host.now() >= deadline:
                raise WarmError(
                    'the registry %s did not store %s within %d s (%s): is its disk full? (df -h %s on the jump host)'
                    % (base, ', '.join('%s (%s bytes)' % (b['digest'], b.get('size')) for b in left),
                       params['timeout'], '%d of %d blobs stored' % (len(missing) - len(left), len(missing)),
                       params['storage']))
            host.sleep(1)
    except WarmError as exc:
        return dict(result, failed=True,
                    msg='%s:%s could not be fetched into the cache: %s' % (repository, reference, exc))


class ModuleHost(object):
    def __init__(self, module, open_url):
        self.module = module
        self.open_url = open_url

    def _open(self, url, headers):
        error = None
        try:
            return self.open_url(url, headers=headers, timeout=self.module.params['request_timeout'],
                                 use_proxy=False, validate_certs=False)
        except Exception as exc:  # HTTPError, URLError, socket errors: one sentence
            error = exc
        raise WarmError('GET %s failed: %s' % (url, error))

    def get(self, url, headers):
        response = self._open(url, headers)
        try:
            body = response.read()
            return body, dict((k.lower(), v) for k, v in response.headers.items())
        finally:
            response.close()

    def touch(self, url):
        response = self._open(url, {})
        try:
            response.read(1)
        finally:
            response.close()

    def exists(self, path):
        return os.path.isfile(path)

    def sleep(self, seconds):
        time.sleep(seconds)

    def now(self):
        return time.time()


def run_module(module, open_url):
    result = run(module.params, module.check_mode, ModuleHost(module, open_url))
    if result.pop('failed', False):
        module.fail_json(**result)
    module.exit_json(**result)

# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a download or an image comes from when the jump host's cache serves it.

Shared by the filters ``hpcdl.gpu.cache_url`` and ``hpcdl.gpu.cache_image`` (the roles' repository
entries, keys and images) and the modules ``hpcdl.gpu.cache_fetch`` and ``hpcdl.gpu.registry_warm``.
Standard library only; Python 2.7 and 3.6+.

- ``cache_url(url, cache)``: the URL through apt-cacher-ng in its URL-prefix mode:
  ``http://host/path`` -> ``<cache>/host/path``, ``https://host/path`` -> ``<cache>/HTTPS///host/path``
  (apt-cacher-ng's documented way to an https upstream: it fetches over https and caches).
- ``image_reference(name)``: an image name split the way Docker reads it (registry, repository,
  tag, digest; Docker Hub's ``library/`` for one-word names).
- ``cache_image(name, host, registries)``: the name to pull through the cache's pull-through
  registry for the image's registry, or None when the cache has no registry for it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.six.moves.urllib.parse import urlsplit

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class CacheError(ValueError):
    """An image name the cache cannot read; the message names it."""


def cache_url(url, cache):
    """``url`` as apt-cacher-ng serves it from ``cache`` (``http://10.0.0.1:3142``); ``url`` itself
    when ``cache`` is empty, and for what the cache cannot serve: another scheme (``file://``), or
    credentials in the URL (the cache would keep them in its file names)."""
    if not cache:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return url
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    prefix = "HTTPS///" if parts.scheme == "https" else ""
    return "%s/%s%s%s" % (cache.rstrip("/"), prefix, parts.netloc, path)


def image_reference(name):
    """{registry, repository, tag, digest, name} of a Docker image name."""
    if not name or any(c.isspace() for c in name):
        raise CacheError("%r is not an image name." % (name,))
    rest, digest = name, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not DIGEST.match(digest):
            raise CacheError("%s: the digest must be sha256: and 64 lowercase hex digits." % name)
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
        if not TAG.match(tag):
            raise CacheError("%s: %r is not a tag." % (name, tag))
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, remainder
    else:
        registry, repository = DOCKER_HUB, rest
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = "library/" + repository
    if not REPOSITORY.match(repository):
        raise CacheError("%s: %r is not a repository name (lowercase, digits, separators)." % (name, repository))
    if tag is None and digest is None:
        tag = "latest"
    return {"registry": registry, "repository": repository, "tag": tag, "digest": digest, "name": name}


def registry_entry(registry, registries):
    """The entry of ``registries`` ([{name, port, ...}]) for ``registry``, or None."""
    for entry in registries or []:
        names = [entry.get("name")]
        if entry.get("name") == DOCKER_HUB:
            names = list(DOCKER_HUB_ALIASES)
        if registry in names:
            return entry
    return None


def cache_image(name, host, registries):
    """What to ask the cache for, or None when it has no registry for the image's (or no host):
    {name, upstream (the image's registry), cache_registry (the entry's name, the registry's folder
    on the jump host), registry (host:port), repository, reference (tag or digest), pull}."""
    ref = image_reference(name)
    entry = registry_entry(ref["registry"], registries)
    if entry is None or not host:
        return None
    registry = "%s:%d" % (host, int(entry["port"]))
    reference = ref["digest"] or ref["tag"]
    joiner = "@" if ref["digest"] else ":"
    return {"name": name, "upstream": ref["registry"], "cache_registry": entry["name"], "registry": registry,
            "repository": ref["repository"], "reference": reference,
            "pull": "%s/%s%s%s" % (registry, ref["repository"], joiner, reference)}

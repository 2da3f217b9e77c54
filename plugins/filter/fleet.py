# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The notebook_routes filter: where Tengine publishes each GPU node's notebook.

Documented in notebook_routes.yml beside this file. playbooks/reverse_proxy.yml turns its result
into tengine_routes, and playbooks/summary.yml probes the same routes, so both read one answer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types

# What the jupyter role publishes when the inventory says nothing (its defaults/main.yml).
DEFAULT_PORT = 80


def _get(mapping, key, default=None):
    """mapping[key], or default when it is missing (hostvars raise on a missing key in some versions)."""
    try:
        value = mapping[key]
    except (KeyError, TypeError):
        return default
    if value is None or type(value).__name__ in ('AnsibleUndefined', 'StrictUndefined', 'Undefined'):
        return default
    return value


def _base_url(value, name):
    """Jupyter's base_url as the jupyter role writes it: one leading and one trailing slash."""
    text = to_text(value if value not in (None, '') else '/%s/' % name).strip()
    return '/' + text.strip('/') + '/' if text.strip('/') else '/'


def _is_loopback(address):
    return address == 'localhost' or address.startswith('127.')


def notebook_route(name, host_vars):
    """The route of one node: {name, path, host, port}, or None when its notebook serves only its own loopback.

    From the fact jupyter_published when the jupyter role ran on the node in this run (where it really
    published the notebook), else from the inventory as the role would default it: jupyter_base_url
    (default /<name>/), jupyter_bind_address (else ansible_host, else the name) and jupyter_host_port (80).
    """
    published = _get(host_vars, 'jupyter_published') or {}
    if not hasattr(published, 'get'):
        published = {}
    address = to_text(_get(published, 'address', '') or '')
    if not address:
        address = to_text(_get(host_vars, 'jupyter_bind_address', '') or '')
    if _is_loopback(address):
        # Published on the node's own loopback (for SSH tunnels): nothing else can reach it.
        return None
    if not address or address == '0.0.0.0':
        address = to_text(_get(host_vars, 'ansible_host', '') or name)
    port = _get(published, 'port') or _get(host_vars, 'jupyter_host_port') or DEFAULT_PORT
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise AnsibleFilterError('notebook_routes: %s has jupyter_host_port %r, not a port number.'
                                 % (name, port)) from None
    path = _base_url(_get(published, 'base_url') or _get(host_vars, 'jupyter_base_url'), name)
    return {'name': name, 'path': path, 'host': address, 'port': port}


def notebook_routes(hosts, hostvars):
    """One route per host of ``hosts`` (groups['gpu_nodes']), in their order, read from ``hostvars``."""
    if isinstance(hosts, string_types) or not hasattr(hosts, '__iter__'):
        raise AnsibleFilterError("notebook_routes: give a list of inventory names (groups['gpu_nodes']), not %r."
                                 % (hosts,))
    routes = []
    for host in hosts:
        name = to_text(host)
        host_vars = _get(hostvars, name)
        if host_vars is None:
            raise AnsibleFilterError('notebook_routes: %s is not in hostvars (pass hostvars as the argument).' % name)
        route = notebook_route(name, host_vars)
        if route is not None:
            routes.append(route)
    return routes


class FilterModule(object):
    """Fleet filters."""

    def filters(self):
        return {'notebook_routes': notebook_routes}

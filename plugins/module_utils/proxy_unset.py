# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remove proxy settings from files, line by line: the logic of ``hpcdl.gpu.proxy_unset``.

Used by the module of that name, which the role hpcdl.gpu.proxy_unset runs. Standard library
only; Python 2.7 (EL 7, as in the seed) and 3.6+ (the targets' Python).

What goes, by kind:
  shell        NAME=value, export NAME=value, declare -x NAME=value (one assignment per line)
  yum          proxy= (not _none_), and proxy_username/proxy_password/proxy_auth_method
  apt          Acquire::<scheme>::Proxy[::host] "value"; (not DIRECT or false)

A value matching one of ``keep`` (the jump host's cache, which the collection sets itself) stays
wherever it is, and is not reported either.
  wget         <name> = value (case-insensitive), use_proxy = on (not off)
  systemd_env  the proxy assignments of Environment= lines; a line left empty goes

- ``Scrubber(names, only_matching).scrub(kind, lines)`` decides what goes (pure, no file access).
- ``find_users``/``expand`` turn the options into the (path, kind) list of files to read.
- ``run(params, check_mode, host)`` computes every change, validates the edited shell files
  (``bash -n``) and only when all pass backs up and writes them; it returns the module's result
  (``failed``/``msg`` on an error). ``host`` does what needs the module: find and run bash,
  back up, write atomically (``ModuleHost`` wraps an AnsibleModule).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import pwd
import re
import sys
import tempfile

ARGUMENT_SPEC = dict(
    shell_files=dict(type='list', elements='str', default=[]),
    yum_files=dict(type='list', elements='str', default=[]),
    apt_files=dict(type='list', elements='str', default=[]),
    wgetrc_files=dict(type='list', elements='str', default=[]),
    systemd_env_files=dict(type='list', elements='str', default=[]),
    names=dict(type='list', elements='str', required=True),
    only_matching=dict(type='str', default=''),
    keep=dict(type='list', elements='str', default=[]),
    users_rc_files=dict(type='list', elements='str', default=[]),
    uid_min=dict(type='int', default=1000),
    uid_max=dict(type='int', default=60000),
    include_root=dict(type='bool', default=True),
    backup=dict(type='bool', default=True),
    validate_shell=dict(type='bool', default=True),
)

OPTIONS = (("shell_files", "shell"), ("yum_files", "yum"), ("apt_files", "apt"), ("wgetrc_files", "wget"),
           ("systemd_env_files", "systemd_env"))
# A shell word as it appears after NAME=: quoted, or bare up to a blank, ';' or '#'.
SHELL_VALUE = r"""(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s;#'"]*)"""
YUM_KEYS = ("proxy", "proxy_username", "proxy_password", "proxy_auth_method")
YUM_LINE = re.compile(r"^\s*(?P<key>proxy(?:_username|_password|_auth_method)?)\s*=\s*(?P<value>.*?)\s*$")
APT_LINE = re.compile(
    r"""^\s*Acquire::[A-Za-z0-9+.-]+::Proxy(?:::\S+)?\s+"(?P<value>[^"]*)"\s*;\s*(?://.*|#.*)?$""",
    re.IGNORECASE)
APT_MENTION = re.compile(r"(?i)::Proxy\b|\bProxy\s+\"")
APT_NOT_A_PROXY = ("direct", "false", "")
APT_VALUE = re.compile(r'"(?P<value>[^"]*)"')
WGET_USE_PROXY = re.compile(r"(?i)^\s*use_proxy\s*=\s*(on|yes|1)\s*$")
ENV_LINE = re.compile(r"^(?P<lead>\s*Environment\s*=\s*)(?P<rest>.*?)(?P<trail>\s*)$")
ENV_TOKEN = re.compile(r'"[^"]*"|\'[^\']*\'|\S+')
# Backups (this module's and Ansible's end in ~) and package managers' leftovers: never live config.
SKIP_SUFFIXES = ("~", ".bak", ".orig", ".save", ".rpmnew", ".rpmsave", ".dpkg-old", ".dpkg-new", ".dpkg-dist",
                 ".ucf-old", ".ucf-new", ".ucf-dist")
# bash -n's messages are parsed by nobody but read by a person: the C locale keeps them in English.
C_LOCALE = dict(LANG='C', LC_ALL='C', LC_MESSAGES='C')


def unquote(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


class Scrubber(object):
    """Decides, line by line, what goes. Pure: no file access."""

    def __init__(self, names, only_matching, keep=()):
        self.names = list(names)
        self.only = re.compile(only_matching) if only_matching else None
        self.keep = [re.compile(pattern) for pattern in keep or ()]
        alternation = "|".join(re.escape(n) for n in self.names)
        self.shell_line = re.compile(
            r"^\s*(?:export\s+|declare\s+-x\s+)?(?P<name>%s)=%s\s*;?\s*(?:#.*)?$" % (alternation, SHELL_VALUE))
        self.shell_mention = re.compile(r"(?<![A-Za-z0-9_])(?:%s)\s*=" % alternation)
        lower = sorted(set(n.lower() for n in self.names))
        self.wget_line = re.compile(
            r"(?i)^\s*(?P<name>%s)\s*=\s*(?P<value>.*?)\s*$" % "|".join(re.escape(n) for n in lower))

    def kept(self, value):
        """A value that matches one of ``keep`` (the jump host's cache, say) is never touched nor reported."""
        value = unquote(value.strip())
        return any(pattern.search(value) for pattern in self.keep)

    def wanted(self, value):
        """A proxy value is removed when no filter is set, or when it matches the filter, unless it is kept."""
        if self.kept(value):
            return False
        return self.only is None or bool(self.only.search(unquote(value.strip())))

    def scrub(self, kind, lines):
        """Return (new_lines, removed, kept): removed/kept are the original lines (no newline)."""
        method = getattr(self, "_" + kind)
        return method(lines)

    @staticmethod
    def _body(line):
        return line.rstrip("\r\n")

    def _generic(self, lines, remove, mention):
        out, removed, kept = [], [], []
        for line in lines:
            body = self._body(line)
            if remove(body):
                removed.append(body)
                continue
            if mention(body):
                kept.append(body)
            out.append(line)
        return out, removed, kept

    def _shell(self, lines):
        def remove(body):
            match = self.shell_line.match(body)
            return bool(match) and self.wanted(match.group("value"))

        def mention(body):
            stripped = body.lstrip()
            if stripped.startswith("#") or not self.shell_mention.search(body):
                return False
            match = self.shell_line.match(body)
            if match and self.kept(match.group("value")):
                return False
            # With a filter, a proxy the user keeps on purpose is not worth a warning.
            return self.only is None or bool(self.only.search(body))

        return self._generic(lines, remove, mention)

    def _wget(self, lines):
        def remove(body):
            match = self.wget_line.match(body)
            if match:
                return self.wanted(match.group("value"))
            # use_proxy = on only says "use the proxies above": it goes with them, unless the
            # user keeps some proxies (a filter is set). use_proxy = off is left alone.
            return self.only is None and bool(WGET_USE_PROXY.match(body))

        return self._generic(lines, remove, lambda body: False)

    def _apt(self, lines):
        def remove(body):
            match = APT_LINE.match(body)
            if not match or match.group("value").strip().lower() in APT_NOT_A_PROXY:
                return False
            return self.wanted(match.group("value"))

        def mention(body):
            stripped = body.lstrip()
            if stripped.startswith(("#", "//")) or not APT_MENTION.search(body):
                return False
            match = APT_LINE.match(body)
            if match and match.group("value").strip().lower() in APT_NOT_A_PROXY:
                return False
            value = APT_VALUE.search(body)
            if value and self.kept(value.group("value")):
                return False
            return self.only is None or bool(self.only.search(body))

        return self._generic(lines, remove, mention)

    def _yum(self, lines):
        # proxy= goes when it matches; its credentials go with it when no proxy= stays behind.
        parsed = [YUM_LINE.match(self._body(line)) for line in lines]
        proxies = [m for m in parsed if m and m.group("key").lower() == "proxy"
                   and m.group("value") and m.group("value").lower() != "_none_"]
        kept_proxy = any(not self.wanted(m.group("value")) for m in proxies)
        out, removed, kept = [], [], []
        for line, match in zip(lines, parsed):  # noqa: B905 (Python 2.7: zip has no strict)
            body = self._body(line)
            if match and match.group("key").lower() in YUM_KEYS:
                key, value = match.group("key").lower(), match.group("value")
                if key == "proxy":
                    go = bool(value) and value.lower() != "_none_" and self.wanted(value)
                else:
                    go = not kept_proxy
                if go:
                    removed.append(body)
                    continue
            out.append(line)
        return out, removed, kept

    def _systemd_env(self, lines):
        out, removed, kept = [], [], []
        for line in lines:
            body = self._body(line)
            newline = line[len(body):]
            match = ENV_LINE.match(body)
            if not match:
                out.append(line)
                continue
            tokens = ENV_TOKEN.findall(match.group("rest"))
            stay, gone = [], []
            for token in tokens:
                name, _sep, value = unquote(token).partition("=")
                if _sep and name in self.names and self.wanted(value):
                    gone.append(token)
                else:
                    stay.append(token)
            if not gone:
                out.append(line)
                continue
            removed.append(body)
            if stay:
                out.append(match.group("lead") + " ".join(stay) + match.group("trail") + newline)
        return out, removed, kept


def find_users(uid_min, uid_max, include_root):
    """The homes of root (if included) and of the users in [uid_min, uid_max], by uid, each once."""
    homes = []
    for entry in sorted(pwd.getpwall(), key=lambda e: e.pw_uid):
        in_scope = (entry.pw_uid == 0 and include_root) or uid_min <= entry.pw_uid <= uid_max
        if in_scope and entry.pw_dir and entry.pw_dir.startswith("/") and entry.pw_dir not in homes:
            homes.append(entry.pw_dir)
    return homes


def expand(targets, homes, rc_files):
    """(path, kind) for every existing regular file, in order, each path once; backups skipped."""
    seen, files = set(), []
    items = list(targets) + [{"path": os.path.join(h, f), "kind": "shell"} for h in homes for f in rc_files]
    for item in items:
        for path in sorted(glob.glob(item["path"])):
            real = os.path.realpath(path)
            if path.endswith(SKIP_SUFFIXES) or real in seen or not os.path.isfile(real):
                continue
            seen.add(real)
            files.append((path, item["kind"]))
    return files


def needs_validation(path, kind, validate_shell):
    """Whether an edited file is checked with bash -n: shell files, but not /etc/environment or zsh files."""
    if kind != "shell" or not validate_shell:
        return False
    return path != "/etc/environment" and "zsh" not in os.path.basename(path)


def read_text(path):
    with open(path, "rb") as handle:
        raw = handle.read()
    if sys.version_info[0] >= 3:
        return raw.decode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "replace")


def to_bytes(text):
    if sys.version_info[0] >= 3:
        return text.encode("utf-8", "surrogateescape")
    return text.encode("utf-8")


def _write_temp(text, directory=None, suffix=""):
    """A new temporary file holding ``text``; the caller moves or removes it."""
    fd, tmp = tempfile.mkstemp(prefix=".proxy_unset.", suffix=suffix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_bytes(text))
    except Exception:
        os.unlink(tmp)
        raise
    return tmp


class ModuleHost(object):
    """What ``run`` needs from the host, done through an AnsibleModule."""

    def __init__(self, module):
        self.module = module
        self._bash = False

    def bash(self):
        """The path of bash, or None (then no file is validated)."""
        if self._bash is False:
            self._bash = self.module.get_bin_path("bash")
        return self._bash

    def syntax_error(self, path, text):
        """bash -n on ``text`` (what ``path`` would hold): None if it parses, else bash's message."""
        tmp = _write_temp(text, suffix=".sh")
        try:
            rc, _out, err = self.module.run_command([self.bash(), "-n", tmp], environ_update=C_LOCALE)
        finally:
            os.unlink(tmp)
        if rc == 0:
            return None
        return (err or "").strip().replace(tmp, path)

    def backup(self, path):
        """A copy next to the file, <file>.<pid>.<timestamp>~ (Ansible's backup name); its path."""
        return self.module.backup_local(path)

    def write(self, path, text):
        """Replace the file atomically, keeping its owner, mode and SELinux context."""
        tmp = _write_temp(text, directory=os.path.dirname(path))
        try:
            self.module.atomic_move(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def run(params, check_mode, host):
    """Scan, decide, validate, then (not in check mode) back up and write.

    Returns the result: changed, removed [{path, kind, lines, backup_file}], kept, scanned;
    failed and msg on an error (then nothing was written).
    """
    targets = [{"path": path, "kind": kind} for option, kind in OPTIONS for path in params.get(option) or []]
    if not params.get("names"):
        return {"failed": True, "msg": "names is empty: give at least one proxy variable name."}
    try:
        scrubber = Scrubber(params["names"], params.get("only_matching") or "")
    except re.error as exc:
        return {"failed": True, "msg": "only_matching is not a valid regular expression: %s" % exc}
    try:
        scrubber.keep = [re.compile(pattern) for pattern in params.get("keep") or []]
    except re.error as exc:
        return {"failed": True, "msg": "keep holds a pattern that is not a valid regular expression: %s" % exc}
    rc_files = params.get("users_rc_files") or []
    homes = find_users(int(params.get("uid_min", 1000)), int(params.get("uid_max", 60000)),
                       params.get("include_root", True)) if rc_files else []
    files = expand(targets, homes, rc_files)

    plans, kept, scanned = [], [], []
    for path, kind in files:
        text = read_text(path)
        scanned.append(path)
        new_lines, removed_lines, kept_lines = scrubber.scrub(kind, text.splitlines(True))
        if kept_lines:
            kept.append({"path": path, "kind": kind, "lines": kept_lines})
        if removed_lines:
            plans.append({"path": path, "kind": kind, "lines": removed_lines, "after": "".join(new_lines)})

    failures = []
    for plan in plans:
        if not needs_validation(plan["path"], plan["kind"], params.get("validate_shell", True)) or not host.bash():
            continue
        error = host.syntax_error(plan["path"], plan["after"])
        if error is not None:
            failures.append("%s (%s)" % (plan["path"], error))
    removed = [{"path": p["path"], "kind": p["kind"], "lines": p["lines"]} for p in plans]
    if failures:
        return {"failed": True, "changed": False, "removed": removed, "kept": kept, "scanned": scanned,
                "msg": "Removing the proxy lines would leave a shell file that bash cannot parse, so nothing was "
                       "changed: %s. Edit these lines by hand (for example an if-block whose only command sets "
                       "the proxy), or set validate_shell to false (proxy_unset_validate_shell in the role "
                       "hpcdl.gpu.proxy_unset)." % "; ".join(failures)}

    if not check_mode:
        for plan, entry in zip(plans, removed):  # noqa: B905 (Python 2.7: zip has no strict)
            if params.get("backup", True):
                entry["backup_file"] = host.backup(plan["path"])
            host.write(plan["path"], plan["after"])
    return {"changed": bool(removed), "removed": removed, "kept": kept, "scanned": scanned}


def run_module(module):
    try:
        result = run(module.params, module.check_mode, ModuleHost(module))
    except Exception as exc:  # a file that cannot be read or written: say which, as one sentence
        result = {"failed": True, "msg": "%s: %s" % (type(exc).__name__, exc)}
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)

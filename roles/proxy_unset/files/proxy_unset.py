#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: hpcdl.gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Runs on the managed host's Python (2.7 on EL 7, as in the seed): no modern syntax.
# ruff: noqa: UP004, UP009, UP010, UP031, UP036, B905
"""Remove proxy settings from files, line by line: the worker of the role hpcdl.gpu.proxy_unset.

Run on the managed host by ansible.builtin.script with one argument, a JSON object:
  shell_files, yum_files, apt_files, wgetrc_files, systemd_env_files  lists of paths or globs
  names              the proxy variable names
  only_matching      "" (remove every proxy) or a regex a proxy value must match to be removed
  users_rc_files, uid_min, uid_max, include_root   the users' shell files (root and a uid range)
  backup, validate_shell, check
Prints one JSON object: changed, removed [{path, kind, lines, backup_file}], kept, scanned,
and failed/msg on an error. Python 2.7 and 3.6+, standard library only.

What goes, by kind:
  shell        NAME=value, export NAME=value, declare -x NAME=value (one assignment per line)
  yum          proxy= (not _none_), and proxy_username/proxy_password/proxy_auth_method
  apt          Acquire::<scheme>::Proxy[::host] "value"; (not DIRECT or false)
  wget         <name> = value (case-insensitive), use_proxy = on (not off)
  systemd_env  the proxy assignments of Environment= lines; a line left empty goes
Every change is computed and validated (bash -n) first; nothing is written unless all pass.
"""

from __future__ import absolute_import, division, print_function

import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time

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
WGET_USE_PROXY = re.compile(r"(?i)^\s*use_proxy\s*=\s*(on|yes|1)\s*$")
ENV_LINE = re.compile(r"^(?P<lead>\s*Environment\s*=\s*)(?P<rest>.*?)(?P<trail>\s*)$")
ENV_TOKEN = re.compile(r'"[^"]*"|\'[^\']*\'|\S+')


def unquote(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


class Scrubber(object):
    """Decides, line by line, what goes. Pure: no file access."""

    def __init__(self, names, only_matching):
        self.names = list(names)
        self.only = re.compile(only_matching) if only_matching else None
        alternation = "|".join(re.escape(n) for n in self.names)
        self.shell_line = re.compile(
            r"^\s*(?:export\s+|declare\s+-x\s+)?(?P<name>%s)=%s\s*;?\s*(?:#.*)?$" % (alternation, SHELL_VALUE))
        self.shell_mention = re.compile(r"(?<![A-Za-z0-9_])(?:%s)\s*=" % alternation)
        lower = sorted(set(n.lower() for n in self.names))
        self.wget_line = re.compile(
            r"(?i)^\s*(?P<name>%s)\s*=\s*(?P<value>.*?)\s*$" % "|".join(re.escape(n) for n in lower))

    def wanted(self, value):
        """A proxy value is removed when no filter is set, or when it matches the filter."""
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
            return self.only is None or bool(self.only.search(body))

        return self._generic(lines, remove, mention)

    def _yum(self, lines):
        # proxy= goes when it matches; its credentials go with it when no proxy= stays behind.
        parsed = [YUM_LINE.match(self._body(line)) for line in lines]
        proxies = [m for m in parsed if m and m.group("key").lower() == "proxy"
                   and m.group("value") and m.group("value").lower() != "_none_"]
        kept_proxy = any(not self.wanted(m.group("value")) for m in proxies)
        out, removed, kept = [], [], []
        for line, match in zip(lines, parsed):
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
    homes = []
    for entry in sorted(pwd.getpwall(), key=lambda e: e.pw_uid):
        in_scope = (entry.pw_uid == 0 and include_root) or uid_min <= entry.pw_uid <= uid_max
        if in_scope and entry.pw_dir and entry.pw_dir.startswith("/") and entry.pw_dir not in homes:
            homes.append(entry.pw_dir)
    return homes


# Backups (this role's and Ansible's end in ~) and package managers' leftovers: never live config.
SKIP_SUFFIXES = ("~", ".bak", ".orig", ".save", ".rpmnew", ".rpmsave", ".dpkg-old", ".dpkg-new", ".dpkg-dist",
                 ".ucf-old", ".ucf-new", ".ucf-dist")


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


def which(program):
    for directory in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) + ["/usr/bin", "/bin"]:
        candidate = os.path.join(directory, program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def validator_for(path, kind, validate_shell):
    if kind != "shell" or not validate_shell:
        return None
    if path == "/etc/environment" or "zsh" in os.path.basename(path):
        return None
    return which("bash")


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


def backup_file(path):
    """A copy next to the file, named as Ansible's own backups: <file>.<pid>.<timestamp>~."""
    target = "%s.%s.%s" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S~"))
    shutil.copy2(path, target)
    return target


def write_over(path, text):
    """Write atomically, keeping the file's owner and mode."""
    stat = os.stat(path)
    fd, tmp = tempfile.mkstemp(prefix=".proxy_unset.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_bytes(text))
        os.chmod(tmp, stat.st_mode & 0o7777)
        os.chown(tmp, stat.st_uid, stat.st_gid)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run(params):
    targets = [{"path": path, "kind": kind} for option, kind in OPTIONS for path in params.get(option) or []]
    if not params.get("names"):
        return {"failed": True, "msg": "names is empty: give at least one proxy variable name."}
    try:
        scrubber = Scrubber(params["names"], params.get("only_matching") or "")
    except re.error as exc:
        return {"failed": True, "msg": "only_matching is not a valid regular expression: %s" % exc}
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
        bash = validator_for(plan["path"], plan["kind"], params.get("validate_shell", True))
        if not bash:
            continue
        fd, tmp = tempfile.mkstemp(prefix=".proxy_unset.", suffix=".sh")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(to_bytes(plan["after"]))
            proc = subprocess.Popen([bash, "-n", tmp], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _out, err = proc.communicate()
            if proc.returncode != 0:
                err = err.decode("utf-8", "replace").strip().replace(tmp, plan["path"])
                failures.append("%s (%s)" % (plan["path"], err))
        finally:
            os.unlink(tmp)
    removed = [{"path": p["path"], "kind": p["kind"], "lines": p["lines"]} for p in plans]
    if failures:
        return {"failed": True, "changed": False, "removed": removed, "kept": kept, "scanned": scanned,
                "msg": "Removing the proxy lines would leave a shell file that bash cannot parse, so nothing was "
                       "changed: %s. Edit these lines by hand (for example an if-block whose only command sets "
                       "the proxy), or set proxy_unset_validate_shell to false." % "; ".join(failures)}

    if not params.get("check"):
        for plan, entry in zip(plans, removed):
            if params.get("backup", True):
                entry["backup_file"] = backup_file(plan["path"])
            write_over(plan["path"], plan["after"])
    return {"changed": bool(removed), "removed": removed, "kept": kept, "scanned": scanned}


def main(argv):
    try:
        result = run(json.loads(argv[1]))
    except Exception as exc:  # reported to Ansible as JSON, like a module would
        result = {"failed": True, "msg": "%s: %s" % (type(exc).__name__, exc)}
    result.setdefault("failed", False)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

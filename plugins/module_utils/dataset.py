# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Datasets through a relay host: the logic of the modules dataset_fetch, dataset_sync,
dataset_install and dataset_info (the role hpcdl.gpu.dataset runs them).

Standard library only; Python 2.7 (EL 7, as in the seed) and 3.6+ (the targets' Python).

- ``fetch(params, check_mode, host)``: the relay's copy of one item. A copy already there and
  verified (its record beside it matches its size and mtime, or its sha256 when rehashing) is
  left alone; otherwise the item is downloaded into a partial file with curl (``--continue-at -``)
  or aria2c (``--continue``), which resume what an earlier, interrupted run left, then hashed;
  only a copy whose sha256 matches gets the final name. A mismatch removes the download.
- ``sync(params, check_mode, host)``: rsync one relay copy to a node's staging folder (over SSH,
  or locally when the relay is the node), partial transfers kept in a partial folder; the
  figures come from rsync's own ``--stats``.
- ``install(params, check_mode, host)``: on the node, hash the staged copy; only a match is moved
  (a file) or unpacked (an archive, into a new folder swapped in whole) to its destination, and
  recorded in a state file. A mismatch removes the staged copy and leaves the destination alone.
- ``status(params, check_mode, host)`` (dataset_info): read-only: which items a node holds as
  recorded (their files there, sizes and mtimes as recorded; every byte hashed again with ``rehash``).

``host`` does what needs the outside world: ``run(argv)``, ``now()``, ``sleep(seconds)``,
``which(name)``, ``warn(text)``; ``ModuleHost`` wraps an AnsibleModule, tests pass a fake.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import re
import shutil
import stat
import tarfile
import time
import zipfile

from ansible_collections.hpcdl.gpu.plugins.module_utils.jsonfile import makedirs, read_json, write_json

RECORD_SUFFIX = '.hpcdl.json'
CHUNK = 1 << 20
# curl's exit codes the fetch reads: 22 an HTTP error (--fail), 33 no byte ranges (cannot resume).
CURL_HTTP_ERROR = 22
CURL_NO_RANGES = 33
CURL_WRITE_OUT = '%{http_code} %{size_download}\\n'
# aria2c's: 8 the server cannot resume (--always-resume).
ARIA2_NO_RESUME = 8
RSYNC_EXIT = {
    1: 'syntax or usage error',
    2: 'protocol incompatibility',
    3: 'errors selecting input/output files',
    5: 'error starting client-server protocol',
    10: 'error in socket I/O',
    11: 'error in file I/O',
    12: 'error in rsync protocol data stream (the connection was cut)',
    20: 'received SIGUSR1 or SIGINT',
    23: 'partial transfer due to error',
    30: 'timeout in data send/receive',
    35: 'timeout waiting for daemon connection',
    255: 'ssh failed (connection, host key or authentication)',
}
ARCHIVE_SUFFIXES = ('.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tbz2', '.tar.xz', '.txz', '.zip')


class DatasetError(Exception):
    """A failure the module reports as its msg (it names the item)."""


# -- small helpers --------------------------------------------------------------------------------
def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def remove(path):
    """Remove a file or a folder; True when something was there."""
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
        return True
    if os.path.isdir(path):
        shutil.rmtree(path)
        return True
    return False


def mbps(size, seconds):
    """MB/s (10^6 bytes a second), two decimals; 0 when nothing moved or no time passed."""
    if size <= 0 or seconds <= 0:
        return 0.0
    return round(size / seconds / 1e6, 2)


def partial_path(path, sha256):
    """Where a download of ``path`` grows: hidden, beside it, named by the sha256 it must have, so
    that a partial file of another version of the item is never resumed into this one."""
    tag = sha256[:16] if sha256 else 'unverified'
    return os.path.join(os.path.dirname(path), '.%s.%s.part' % (os.path.basename(path), tag))


def record_matches(record, st, sha256):
    """The record beside a copy (or a node's state file) still describes it: same sha256 (when one
    is expected), same size, same mtime (whole seconds: rsync keeps them so)."""
    if not record or not record.get('sha256'):
        return False
    if sha256 and record['sha256'] != sha256:
        return False
    return record.get('size') == st.st_size and int(record.get('mtime', -1)) == int(st.st_mtime)


# -- upstream -> relay ----------------------------------------------------------------------------
def curl_argv(curl, url, partial, params):
    argv = [curl, '-q', '--fail', '--location', '--silent', '--show-error',
            '--proto', '=http,https,ftp', '--proto-redir', '=http,https,ftp',
            '--continue-at', '-', '--output', partial,
            '--connect-timeout', str(params['timeout']),
            # A connection that carries less than a byte a second for `timeout` seconds is dead.
            '--speed-limit', '1', '--speed-time', str(params['timeout']),
            '--write-out', CURL_WRITE_OUT]
    if params.get('rate_limit'):
        argv += ['--limit-rate', params['rate_limit']]
    return argv + [url]


def aria2c_argv(aria2c, urls, partial, params):
    connections = max(1, int(params.get('connections') or 1))
    argv = [aria2c, '--no-conf=true', '--continue=true', '--always-resume=true',
            '--allow-overwrite=false', '--auto-file-renaming=false', '--remove-control-file=false',
            '--file-allocation=none', '--max-tries=1', '--summary-interval=0',
            '--console-log-level=warn', '--download-result=hide',
            '--connect-timeout=%d' % params['timeout'], '--timeout=%d' % params['timeout'],
            '--split=%d' % connections, '--max-connection-per-server=%d' % connections,
            '--dir=%s' % os.path.dirname(partial), '--out=%s' % os.path.basename(partial)]
    if params.get('rate_limit'):
        argv.append('--max-download-limit=%s' % params['rate_limit'])
    return argv + list(urls)


def parse_curl_write_out(text):
    """(http_code, bytes) from curl's --write-out line; (0, None) when it printed none."""
    for line in reversed((text or '').strip().splitlines()):
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            try:
                return int(parts[0]), int(float(parts[1]))
            except ValueError:
                break
    return 0, None


def last_line(*texts):
    for text in texts:
        lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return ''


def download(params, partial, host):
    """Download into ``partial``, resuming what is there, trying ``retries`` more times (curl
    rotates over the mirrors; aria2c is given them all). Returns a dict: ok, bytes (this run),
    attempts, url, errors, restarted (the server could not resume: started again from zero)."""
    tool = params['downloader']
    binary = host.which(tool)
    if not binary:
        raise DatasetError('%s is not installed on this host' % tool)
    urls = params['urls']
    done = dict(ok=False, bytes=0, attempts=0, url=None, errors=[], restarted=False)
    control = partial + '.aria2'
    for attempt in range(params['retries'] + 1):
        if attempt:
            host.sleep(params['retry_wait'])
        done['attempts'] += 1
        before = file_size(partial)
        if tool == 'curl':
            url = urls[attempt % len(urls)]
            rc, out, err = host.run(curl_argv(binary, url, partial, params))
            code, got = parse_curl_write_out(out)
            done['bytes'] += got if got is not None else max(file_size(partial) - before, 0)
            done['url'] = url
            if rc == 0:
                done['ok'] = True
                return done
            if rc == CURL_HTTP_ERROR and code == 416 and before > 0:
                # Range not satisfiable: the partial file is already whole; the sha256 decides.
                done['ok'] = True
                return done
            if rc == CURL_NO_RANGES:
                remove(partial)
                done['restarted'] = True
                done['errors'].append('%s cannot resume (no byte ranges): started again from zero' % url)
                continue
            done['errors'].append('%s: %s' % (url, last_line(err, out) or 'curl exited %d' % rc))
        else:
            rc, out, err = host.run(aria2c_argv(binary, urls, partial, params))
            done['bytes'] += max(file_size(partial) - before, 0)
            done['url'] = urls[0] if len(urls) == 1 else ', '.join(urls)
            if rc == 0:
                done['ok'] = True
                return done
            if rc == ARIA2_NO_RESUME and before > 0:
                remove(partial)
                remove(control)
                done['restarted'] = True
                done['errors'].append('%s cannot resume: started again from zero' % done['url'])
                continue
            done['errors'].append('%s: %s' % (done['url'], aria2_error(out + '\n' + err) or 'aria2c exited %d' % rc))
    return done


def aria2_error(text):
    """aria2c's own reason ("Exception: ... cause: ..."), or its last error line."""
    causes = re.findall(r'(?:errorCode=\d+\s+)?(?:Failed|cause:|The response status)[^\n]*', text or '')
    if causes:
        return causes[-1].strip()
    errors = [line.strip() for line in (text or '').splitlines() if 'ERROR' in line or 'error' in line]
    return errors[-1] if errors else ''


def fetch(params, check_mode, host):
    """The relay's copy of one item (see the module's documentation)."""
    name, path = params['name'], params['path']
    expected = (params.get('sha256') or '').lower()
    record_path = path + RECORD_SUFFIX
    partial = partial_path(path, expected)
    # Not "path" or "dest": AnsibleModule would add that file's attributes (and its "state") to the result.
    result = dict(changed=False, name=name, copy=path, partial=partial, state='present', bytes=0,
                  seconds=0.0, mbps=0.0, resumed_from=0, attempts=0, url=None, removed=[],
                  verified=bool(expected), size=0, sha256=expected or None)

    if os.path.isfile(path):
        st = os.stat(path)
        record = read_json(record_path)
        if record_matches(record, st, expected) and not params.get('rehash'):
            result.update(size=st.st_size, sha256=record['sha256'])
            return result
        digest = sha256_file(path)
        wanted = expected or (record or {}).get('sha256')
        if not wanted or digest == wanted:
            result.update(size=st.st_size, sha256=digest)
            if record_matches(record, st, digest):
                return result  # rehashed: as recorded
            # Verified (or, unverified on purpose, adopted as it is), but not recorded so: record it.
            result.update(changed=True, state='present (verified again)')
            if not check_mode:
                write_record(record_path, params, digest, path)
            return result
        # A copy that is damaged, or of another version of the item: it goes.
        result['removed'].append(path)
        result['changed'] = True
        host.warn('dataset item %s: the copy at %s has sha256 %s, not %s: removed, fetched again'
                  % (name, path, digest, wanted))
        if not check_mode:
            remove(path)
            remove(record_path)

    if check_mode:
        result.update(changed=True, state='would download', resumed_from=file_size(partial))
        return result

    makedirs(os.path.dirname(path))
    resumed_from = file_size(partial)
    if resumed_from and expected and sha256_file(partial) == expected:
        got = dict(ok=True, bytes=0, attempts=0, url=None, errors=[], restarted=False)
        seconds = 0.0
    else:
        started = host.now()
        got = download(params, partial, host)
        seconds = round(host.now() - started, 3)
    result.update(changed=True, bytes=got['bytes'], seconds=seconds, mbps=mbps(got['bytes'], seconds),
                  resumed_from=0 if got['restarted'] else resumed_from, attempts=got['attempts'], url=got['url'])
    if not got['ok']:
        kept = file_size(partial)
        raise DatasetError(
            'dataset item %s: the download failed after %d attempt(s) (%s). %s'
            % (name, got['attempts'], '; '.join(got['errors'][-3:]) or 'no error text',
               ('The partial copy (%d bytes) is kept at %s: the next run resumes from it.' % (kept, partial))
               if kept else 'Nothing was kept.'), result)
    digest = sha256_file(partial)
    if expected and digest != expected:
        remove(partial)
        remove(partial + '.aria2')
        result['removed'].append(partial)
        raise DatasetError(
            'dataset item %s: the download from %s has sha256 %s, not the expected %s (its sha256 in dataset_items): '
            'the bad copy was removed from %s and nothing was synced to the nodes. The source changed or is damaged, '
            'or the sha256 is wrong.' % (name, got['url'] or ', '.join(params['urls']), digest, expected, partial),
            result)
    os.chmod(partial, 0o644)
    os.rename(partial, path)
    remove(partial + '.aria2')
    write_record(record_path, params, digest, path)
    result.update(size=os.path.getsize(path), sha256=digest,
                  state='resumed' if result['resumed_from'] else 'downloaded')
    if not expected:
        host.warn('dataset item %s was fetched unverified (no sha256; dataset_allow_unverified): its sha256 is %s'
                  % (name, digest))
    return result


def write_record(record_path, params, digest, path):
    st = os.stat(path)
    write_json(record_path, dict(name=params['name'], sha256=digest, size=st.st_size, mtime=int(st.st_mtime),
                                 urls=params['urls'], verified=bool(params.get('sha256')),
                                 recorded=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())))


# -- relay -> node -------------------------------------------------------------------------------
def shell_join(words):
    """One string for rsync's -e, which splits on blanks and honours single quotes."""
    out = []
    for word in words:
        if word and re.match(r'^[A-Za-z0-9_@%+=:,./-]+$', word):
            out.append(word)
        else:
            out.append("'" + word.replace("'", "'\"'\"'") + "'")
    return ' '.join(out)


def rsync_argv(rsync, params):
    argv = [rsync, '--times', '--chmod=D0755,F0644', '--partial-dir=' + params['partial_dir'],
            '--stats', '--no-human-readable', '--timeout=%d' % params['timeout']]
    if params.get('ssh_args'):
        argv += ['-e', shell_join(params['ssh_args'])]
    if params.get('bwlimit'):
        argv.append('--bwlimit=%d' % params['bwlimit'])
    if params.get('compress'):
        argv.append('--compress')
    return argv + [params['src'], params['dest']]


STATS = {
    'transferred': re.compile(r'^Number of (?:regular )?files transferred:\s*([\d,.]+)', re.M),
    'size': re.compile(r'^Total file size:\s*([\d,.]+)', re.M),
    'literal': re.compile(r'^Literal data:\s*([\d,.]+)', re.M),
    'matched': re.compile(r'^Matched data:\s*([\d,.]+)', re.M),
    'sent': re.compile(r'^Total bytes sent:\s*([\d,.]+)', re.M),
    'received': re.compile(r'^Total bytes received:\s*([\d,.]+)', re.M),
}


def parse_rsync_stats(text):
    """The figures of rsync's --stats (plain or with thousands separators): ints, or None."""
    found = {}
    for key, pattern in STATS.items():
        match = pattern.search(text or '')
        found[key] = int(re.sub(r'[,.]', '', match.group(1))) if match else None
    return found


def sync(params, check_mode, host):
    name = params['name']
    result = dict(changed=False, name=name, src=params['src'], destination=params['dest'], bytes=0, literal=0,
                  matched=0, size=0, seconds=0.0, mbps=0.0, transferred=False)
    if not os.path.isfile(params['src']):
        raise DatasetError('dataset item %s: %s is not on the relay host: fetch it first (the role does)'
                           % (name, params['src']), result)
    result['size'] = os.path.getsize(params['src'])
    if check_mode:
        result.update(changed=True, transferred=True)
        return result
    rsync = host.which('rsync')
    if not rsync:
        raise DatasetError('dataset item %s: rsync is not installed on the relay host' % name, result)
    started = host.now()
    rc, out, err = host.run(rsync_argv(rsync, params))
    seconds = round(host.now() - started, 3)
    figures = parse_rsync_stats(out)
    sent = figures['sent'] or 0
    result.update(seconds=seconds, bytes=sent, literal=figures['literal'] or 0, matched=figures['matched'] or 0,
                  mbps=mbps(sent, seconds), stats=figures)
    if rc != 0:
        reason = RSYNC_EXIT.get(rc, 'exit %d' % rc)
        # ssh's own words (host key, authentication, connection) come before rsync's summary line.
        said = [line.strip() for line in (err or '').splitlines() if line.strip() and not line.startswith('rsync')]
        raise DatasetError(
            'dataset item %s: rsync to %s failed (exit %d, %s): %s. What arrived is kept in its partial folder (%s) '
            'beside the destination: the next run resumes from it.'
            % (name, params['dest'], rc, reason, ' / '.join(said[-3:] + [last_line(err, out)]).strip(' /')
               or 'no error text', params['partial_dir']), result)
    result.update(changed=bool(figures['transferred']), transferred=bool(figures['transferred']))
    return result


# -- on the node ---------------------------------------------------------------------------------
def archive_kind(path, fmt='auto'):
    if fmt and fmt != 'auto':
        return fmt
    lower = path.lower()
    if lower.endswith('.zip'):
        return 'zip'
    if lower.endswith(ARCHIVE_SUFFIXES):
        return 'tar'
    return None


def safe_member(name):
    """The member's path inside the tree, or None when it would leave it (absolute, ..)."""
    name = name.replace('\\', '/')
    if name.startswith('/') or re.match(r'^[A-Za-z]:', name):
        return None
    parts = [part for part in name.split('/') if part not in ('', '.')]
    if not parts or '..' in parts:
        return None
    return '/'.join(parts)


def _write_stream(source, target, executable):
    digest = hashlib.sha256()
    size = 0
    with open(target, 'wb') as out:
        while True:
            block = source.read(CHUNK)
            if not block:
                break
            digest.update(block)
            size += len(block)
            out.write(block)
    os.chmod(target, 0o755 if executable else 0o644)
    return size, digest.hexdigest()


def unpack(archive, target, fmt='auto'):
    """Unpack into ``target`` (a new folder): regular files and folders only; a member that is a
    link or a device, or whose path leaves the folder, stops it. Files 0644 (0755 when executable),
    folders 0755, owned by whoever runs this (never the archive's owners). Returns {path: [size, sha256]}."""
    kind = archive_kind(archive, fmt)
    makedirs(target)
    files = {}
    if kind == 'zip':
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                rel = safe_member(info.filename)
                mode = (info.external_attr >> 16) & 0o177777
                if rel is None:
                    raise DatasetError('member %r would be written outside the folder' % info.filename)
                if stat.S_ISLNK(mode):
                    raise DatasetError('member %r is a link' % info.filename)
                dest = os.path.join(target, rel)
                if info.filename.endswith('/'):
                    makedirs(dest)
                    continue
                makedirs(os.path.dirname(dest))
                with zipped.open(info) as source:
                    files[rel] = list(_write_stream(source, dest, bool(mode & 0o111)))
    elif kind == 'tar':
        with tarfile.open(archive, 'r:*') as tar:
            for member in tar:
                rel = safe_member(member.name)
                if rel is None:
                    raise DatasetError('member %r would be written outside the folder' % member.name)
                dest = os.path.join(target, rel)
                if member.isdir():
                    makedirs(dest)
                elif member.isfile():
                    makedirs(os.path.dirname(dest))
                    source = tar.extractfile(member)
                    try:
                        files[rel] = list(_write_stream(source, dest, bool(member.mode & 0o111)))
                    finally:
                        source.close()
                else:
                    raise DatasetError('member %r is a link or a device' % member.name)
    else:
        raise DatasetError('%s is not an archive this module unpacks (%s)' % (archive, ', '.join(ARCHIVE_SUFFIXES)))
    for root, dirs, _files in os.walk(target):
        for folder in dirs:
            os.chmod(os.path.join(root, folder), 0o755)
    os.chmod(target, 0o755)
    return files


def install(params, check_mode, host):
    name, staged, dest = params['name'], params['staged'], params['dest']
    expected = params['sha256'].lower()
    result = dict(changed=False, name=name, destination=dest, staged=staged, sha256=expected, kind='file', size=0,
                  files=0)
    if not os.path.isfile(staged):
        raise DatasetError('dataset item %s: nothing was synced to %s on this node' % (name, staged), result)
    digest = sha256_file(staged)
    if digest != expected:
        remove(staged)
        if params.get('partial_dir'):
            remove(params['partial_dir'])
        raise DatasetError(
            'dataset item %s: the copy synced to this node has sha256 %s, not %s: it was removed from %s and %s was '
            'left as it was. The relay\'s copy may be damaged: run again with dataset_rehash=true to have the relay '
            'hash its copy (a bad one is fetched again).' % (name, digest, expected, staged, dest), result)
    result['changed'] = True
    if check_mode:
        return result
    record = dict(name=name, sha256=digest, dest=dest, installed=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    makedirs(os.path.dirname(dest))
    if params.get('unpack'):
        fresh, old = dest + '.hpcdl-new', dest + '.hpcdl-old'
        remove(fresh)
        try:
            files = unpack(staged, fresh, params.get('format') or 'auto')
        except (DatasetError, tarfile.TarError, zipfile.BadZipfile, EOFError, IOError, OSError) as exc:
            remove(fresh)
            raise DatasetError('dataset item %s: %s was not unpacked (%s); %s was left as it was'  # noqa: B904 (2.7)
                               % (name, staged, exc, dest), result)
        remove(old)
        if os.path.lexists(dest):
            os.rename(dest, old)
        os.rename(fresh, dest)
        remove(old)
        remove(staged)
        record.update(kind='tree', files=files)
        result.update(kind='tree', files=len(files), size=sum(entry[0] for entry in files.values()))
    else:
        os.chmod(staged, 0o644)
        if os.path.isdir(dest) and not os.path.islink(dest):
            shutil.rmtree(dest)
        try:
            os.rename(staged, dest)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            tmp = dest + '.hpcdl-new'
            shutil.copy2(staged, tmp)
            os.rename(tmp, dest)
            remove(staged)
        st = os.stat(dest)
        record.update(kind='file', size=st.st_size, mtime=int(st.st_mtime))
        result.update(size=st.st_size, files=1)
    if params.get('partial_dir'):
        remove(params['partial_dir'])
    write_json(params['state_file'], record)
    return result


def item_status(item, expected, rehash):
    """ok / missing / outdated / changed, and why."""
    record = read_json(item['state_file'])
    expected = (expected or '').lower()
    dest = item['dest']
    if not record:
        return 'missing', 'not installed on this node'
    if expected and record.get('sha256') != expected:
        return 'outdated', 'this node holds another version (sha256 %s)' % record.get('sha256')
    if record.get('kind') == 'tree':
        files = record.get('files') or {}
        if not os.path.isdir(dest):
            return 'missing', '%s is gone' % dest
        for rel, (size, digest) in sorted(files.items()):
            path = os.path.join(dest, rel)
            if not os.path.isfile(path) or os.path.getsize(path) != size:
                return 'changed', '%s is gone or changed' % path
            if rehash and sha256_file(path) != digest:
                return 'changed', '%s does not match what was unpacked' % path
        return 'ok', '%d files, as unpacked' % len(files)
    if not os.path.isfile(dest):
        return 'missing', '%s is gone' % dest
    st = os.stat(dest)
    if record_matches(record, st, expected) and not rehash:
        return 'ok', 'as recorded (size and mtime)'
    if sha256_file(dest) == record.get('sha256'):
        return 'ok', 'hashed again: matches'
    return 'changed', '%s does not match its sha256' % dest


def status(params, check_mode, host):
    """Read-only: the same in check mode."""
    items = []
    for item in params['items']:
        missing = [key for key in ('name', 'dest', 'state_file') if not item.get(key)]
        if missing:
            raise DatasetError('an item of items has no %s: %r' % (', '.join(missing), item))
        state, reason = item_status(item, (params.get('sha256') or {}).get(item['name']), params.get('rehash'))
        items.append(dict(name=item['name'], dest=item['dest'], state=state, reason=reason))
    return dict(changed=False, items=items, needed=[entry['name'] for entry in items if entry['state'] != 'ok'])


class ModuleHost(object):
    """``host`` for the functions above, on an AnsibleModule (a C locale for tools' output)."""

    def __init__(self, module):
        self.module = module

    def run(self, argv):
        return self.module.run_command(argv, environ_update=dict(LC_ALL='C', LANG='C'))

    def now(self):
        return time.time()

    def sleep(self, seconds):
        time.sleep(seconds)

    def which(self, name):
        return self.module.get_bin_path(name)

    def warn(self, text):
        self.module.warn(text)


def run_module(module, function, *args):
    """Call ``function(params, check_mode, host, *args)``, exit_json on its result, fail_json with
    its message (and what it had found) on a DatasetError."""
    try:
        result = function(module.params, module.check_mode, ModuleHost(module), *args)
    except DatasetError as exc:
        extra = exc.args[1] if len(exc.args) > 1 else {}
        module.fail_json(msg=exc.args[0], **extra)
    module.exit_json(**result)

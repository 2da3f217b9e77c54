# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify a repository's OpenPGP signing key by its fingerprint, then install it.

The one implementation behind hpcdl.gpu.signing_key, used by the docker, nvidia_docker and cuda
roles. Standard library only; Python 2.7 and 3.6+ (the targets' Python). No gpg is needed: the
fingerprints are computed here, from the key's packets.

- ``dearmor(data)`` returns the OpenPGP packets of every ASCII-armoured public key block in the
  data (RFC 4880 section 6 and RFC 9580 section 6: armour header lines, base64, the optional CRC24
  checksum, which is checked when present), or the data itself when it is already binary.
- ``read_keys(data)`` parses the packets (RFC 4880 section 4.2, RFC 9580 section 4.2: old- and
  new-format packet headers, including partial body lengths) into the primary keys (Public-Key
  packets, tag 6) with their user IDs (tag 13) and subkeys (Public-Subkey packets, tag 14).
- ``fingerprint(body)`` is a key packet's fingerprint (RFC 4880 section 12.2, RFC 9580 section
  5.5.4): version 4: SHA-1 over 0x99, the body's two-octet big-endian length and the body (40 hex
  digits); version 6 (RFC 9580 section 5.5.4.3): SHA-256 over 0x9B, the four-octet length and the
  body; version 5 (LibrePGP, draft-koch-librepgp section 5.5.4): the same with 0x9A (64 hex
  digits each). Version 2 and 3 keys (MD5 fingerprints, deprecated since RFC 4880 section 5.5.2)
  are refused.
- ``refusal(...)`` is the one sentence a role shows for a key that is not the pinned one.

Any problem with the data raises ``KeyFormatError``, whose text says what is wrong in a few words.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import os
import re
import struct
import tempfile

from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.module_utils.urls import fetch_url

ARGUMENT_SPEC = dict(
    url=dict(type='str'),
    content=dict(type='str'),
    fingerprint=dict(type='list', elements='str', required=True),
    dest=dict(type='path', required=True),
    mode=dict(type='raw', default='0644'),
    pinned_by=dict(type='str'),
    use_proxy=dict(type='bool', default=True),
    validate_certs=dict(type='bool', default=True),
    timeout=dict(type='int', default=10),
)
MUTUALLY_EXCLUSIVE = [('url', 'content')]
REQUIRED_ONE_OF = [('url', 'content')]

# A public key file is a few kilobytes; anything far larger is not one.
MAX_SIZE = 1024 * 1024

TAG_SECRET_KEY = 5
TAG_PUBLIC_KEY = 6
TAG_SECRET_SUBKEY = 7
TAG_USER_ID = 13
TAG_PUBLIC_SUBKEY = 14

# RFC 9580 section 9.1 (public-key algorithms).
ALGORITHMS = {
    1: 'rsa', 2: 'rsa-encrypt', 3: 'rsa-sign', 16: 'elgamal', 17: 'dsa', 18: 'ecdh', 19: 'ecdsa',
    22: 'eddsa', 25: 'x25519', 26: 'x448', 27: 'ed25519', 28: 'ed448',
}

_ARMOR_BEGIN = re.compile(r'^-----BEGIN PGP ([A-Z ,0-9/]+)-----\s*$')
_ARMOR_END = re.compile(r'^-----END PGP ([A-Z ,0-9/]+)-----\s*$')
_ARMOR_HEADER = re.compile(r'^[\x21-\x39\x3b-\x7e]+: ')
_BASE64 = re.compile(r'^[A-Za-z0-9+/]*={0,2}$')
_HEX = re.compile(r'^(?:[0-9A-F]{40}|[0-9A-F]{64})$')


class KeyFormatError(Exception):
    """The data holds no readable OpenPGP public key; the text says why, in a few words."""


# ---------------------------------------------------------------------------------------------
# Fingerprints given by the user


def normalize_fingerprints(values):
    """Upper-case hex without spaces, duplicates dropped, in the order given; raises ValueError
    with a sentence for anything that is not a full v4 (40) or v5/v6 (64 hex digits) fingerprint."""
    result = []
    for value in values:
        text = re.sub(r'\s+', '', to_text(value)).upper()
        if not _HEX.match(text):
            hint = ''
            if re.match(r'^(0X)?([0-9A-F]{8}|[0-9A-F]{16})$', text):
                hint = ' (that is a key ID, which anyone can forge: give the full fingerprint)'
            raise ValueError('fingerprint %r is not a full OpenPGP fingerprint: 40 hex digits (a version 4 key) or '
                             '64 (version 5 or 6), spaces allowed%s.' % (to_native(value), hint))
        if text not in result:
            result.append(text)
    return result


# ---------------------------------------------------------------------------------------------
# ASCII armour (RFC 4880 section 6, RFC 9580 section 6)


def _crc24(data):
    """RFC 4880 section 6.1."""
    crc = 0xB704CE
    for octet in bytearray(data):
        crc ^= octet << 16
        for _bit in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _armored(data):
    return b'-----BEGIN PGP ' in data


def _b64decode(text):
    """The bytes, or None for text that is not base64."""
    try:
        return base64.b64decode(to_bytes(text))
    except (binascii.Error, TypeError, ValueError):
        return None


def _decode_block(lines, number):
    """The packets of one armour block (the lines between BEGIN and END)."""
    # Armour headers ("Version: ...", "Comment: ..."), then an empty line, then base64.
    index = 0
    while index < len(lines) and _ARMOR_HEADER.match(lines[index]):
        index += 1
    if index < len(lines) and not lines[index].strip():
        index += 1
    body, checksum = [], None
    for line in lines[index:]:
        line = line.strip()
        if not line:
            continue
        if line.startswith('=') and len(line) == 5:
            checksum = line[1:]
            continue
        if checksum is not None or not _BASE64.match(line):
            raise KeyFormatError('armour block %d has a line that is not base64: %r' % (number, line[:40]))
        body.append(line)
    packets = _b64decode(''.join(body))
    if packets is None:
        raise KeyFormatError('armour block %d is not valid base64' % number)
    if checksum is not None:
        expected = _b64decode(checksum)
        if expected is None or len(expected) != 3:
            raise KeyFormatError('armour block %d has an unreadable checksum line' % number)
        if struct.unpack('>I', b'\0' + expected)[0] != _crc24(packets):
            raise KeyFormatError('the checksum of armour block %d does not match: the key is damaged' % number)
    return packets


def dearmor(data):
    """The binary OpenPGP packets in ``data`` (bytes): those of every armoured public key block
    (concatenated), or ``data`` itself when it is not armoured."""
    if not _armored(data):
        return data
    text = to_text(data, errors='surrogate_or_replace')
    packets, block, kind, count = [], None, None, 0
    for line in text.splitlines():
        if block is None:
            begin = _ARMOR_BEGIN.match(line.strip())
            if begin:
                block, kind = [], begin.group(1)
            continue
        end = _ARMOR_END.match(line.strip())
        if end:
            count += 1
            if kind == 'PRIVATE KEY BLOCK':
                raise KeyFormatError('a secret key block, which must never be installed as a public key')
            if kind == 'PUBLIC KEY BLOCK':
                packets.append(_decode_block(block, count))
            block = None
            continue
        block.append(line)
    if block is not None:
        raise KeyFormatError('the armour block "BEGIN PGP %s" has no END line: the file is cut short' % kind)
    if not packets:
        raise KeyFormatError('no "BEGIN PGP PUBLIC KEY BLOCK" armour block')
    return b''.join(packets)


# ---------------------------------------------------------------------------------------------
# Packets (RFC 4880 section 4.2, RFC 9580 section 4.2)


def _need(buf, pos, count, start):
    if pos + count > len(buf):
        raise KeyFormatError('the packet at byte %d is truncated (it needs %d more bytes than the data has)'
                             % (start, pos + count - len(buf)))


def _new_format_body(buf, pos, start):
    """The body of a new-format packet and where the next packet starts."""
    chunks = []
    while True:
        _need(buf, pos, 1, start)
        first = buf[pos]
        if first < 192:
            length, pos, final = first, pos + 1, True
        elif first < 224:
            _need(buf, pos, 2, start)
            length, pos, final = ((first - 192) << 8) + buf[pos + 1] + 192, pos + 2, True
        elif first == 255:
            _need(buf, pos, 5, start)
            length, pos, final = struct.unpack('>I', bytes(buf[pos + 1:pos + 5]))[0], pos + 5, True
        else:  # a partial body length: a chunk, then another length
            length, pos, final = 1 << (first & 0x1F), pos + 1, False
        _need(buf, pos, length, start)
        chunks.append(buf[pos:pos + length])
        pos += length
        if final:
            return bytearray().join(chunks), pos


def packets(data):
    """Yield (tag, body as bytearray, offset) for each packet in the binary ``data``."""
    buf = bytearray(data)
    pos = 0
    while pos < len(buf):
        start = pos
        header = buf[pos]
        pos += 1
        if not header & 0x80:
            raise KeyFormatError('byte %d (0x%02x) does not start an OpenPGP packet' % (start, header))
        if header & 0x40:  # new format: the tag in bits 5-0
            tag = header & 0x3F
            body, pos = _new_format_body(buf, pos, start)
        else:  # old format: the tag in bits 5-2, the length's type in bits 1-0
            tag, length_type = (header >> 2) & 0x0F, header & 0x03
            if length_type == 3:  # indeterminate: to the end of the data
                length = len(buf) - pos
            else:
                size, layout = ((1, '>B'), (2, '>H'), (4, '>I'))[length_type]
                _need(buf, pos, size, start)
                length = struct.unpack(layout, bytes(buf[pos:pos + size]))[0]
                pos += size
            _need(buf, pos, length, start)
            body = buf[pos:pos + length]
            pos += length
        if tag == 0:
            raise KeyFormatError('the packet at byte %d has the reserved tag 0' % start)
        yield tag, body, start


def fingerprint(body):
    """The fingerprint of a Public-Key or Public-Subkey packet body (upper-case hex)."""
    body = bytes(body)
    version = bytearray(body[:1])[0] if body else None
    if version == 4:
        if len(body) > 0xFFFF:
            raise KeyFormatError('a version 4 key packet longer than 65535 bytes')
        return hashlib.sha1(b'\x99' + struct.pack('>H', len(body)) + body).hexdigest().upper()
    if version in (5, 6):
        prefix = b'\x9a' if version == 5 else b'\x9b'
        return hashlib.sha256(prefix + struct.pack('>I', len(body)) + body).hexdigest().upper()
    if version in (2, 3):
        raise KeyFormatError('a version %s key, which is obsolete (MD5 fingerprint) and not accepted' % version)
    raise KeyFormatError('a key packet of unknown version %r' % version)


def _key(body, offset):
    body = bytes(body)
    version = bytearray(body[:1])[0] if body else None
    if version in (4, 5, 6) and len(body) < 6:
        raise KeyFormatError('the key packet at byte %d is too short' % offset)
    key = dict(fingerprint=fingerprint(body), version=version)
    created, algorithm = struct.unpack('>IB', body[1:6])
    key['created'] = created
    key['algorithm'] = ALGORITHMS.get(algorithm, str(algorithm))
    return key


def read_keys(data):
    """The primary keys in ``data`` (armoured or binary): a list of dicts with fingerprint,
    version, algorithm, created (seconds since the epoch), user_ids and subkeys (each with
    fingerprint, version, algorithm, created)."""
    if not data:
        raise KeyFormatError('the data is empty')
    binary = dearmor(data)
    if not binary:
        raise KeyFormatError('the armour block is empty')
    if not bytearray(binary[:1])[0] & 0x80:
        raise KeyFormatError('neither an armoured key block nor OpenPGP packets; it starts with %r'
                             % to_native(to_text(binary[:40], errors='surrogate_or_replace')))
    keys = []
    for tag, body, offset in packets(binary):
        if tag in (TAG_SECRET_KEY, TAG_SECRET_SUBKEY):
            raise KeyFormatError('a secret key (the packet at byte %d), which must never be installed as a public key'
                                 % offset)
        if tag == TAG_PUBLIC_KEY:
            key = _key(body, offset)
            key.update(user_ids=[], subkeys=[])
            keys.append(key)
        elif tag in (TAG_PUBLIC_SUBKEY, TAG_USER_ID):
            if not keys:
                raise KeyFormatError('a %s packet (byte %d) comes before any primary key'
                                     % ('subkey' if tag == TAG_PUBLIC_SUBKEY else 'user ID', offset))
            if tag == TAG_USER_ID:
                keys[-1]['user_ids'].append(to_text(bytes(body), errors='surrogate_or_replace'))
            else:
                keys[-1]['subkeys'].append(_key(body, offset))
    if not keys:
        raise KeyFormatError('OpenPGP packets, but no public key among them')
    return keys


# ---------------------------------------------------------------------------------------------
# What a role says


def _describe(key):
    if key['user_ids']:
        return '%s (%s)' % (key['fingerprint'], key['user_ids'][0])
    return key['fingerprint']


def refusal(url, expected, dest, keys, pinned_by=None):
    """The message for a key that is not the pinned one: ``url`` where it comes from (None: it was
    given as content), ``keys`` what it holds (the list ``read_keys`` returns), or a text that says
    why it holds no readable key."""
    source = 'at %s' % url if url else 'given as content'
    if not isinstance(keys, list):
        found, keys = 'no readable OpenPGP key (%s)' % keys, []
    elif len(keys) == 1:
        found = 'the key %s' % _describe(keys[0])
    else:
        found = '%d primary keys, %s' % (len(keys), ', '.join(_describe(key) for key in keys))
    pinned = ', '.join(expected)
    if pinned_by:
        head = 'The key %s is not the one %s pins (%s): it holds %s.' % (source, pinned_by, pinned, found)
        fix = 'Check the mirror, or set %s to the fingerprint of the key that really signs it.' % pinned_by
    else:
        head = 'The key %s is not the expected one (%s): it holds %s.' % (source, pinned, found)
        fix = 'Check where the key comes from, or the fingerprint it must have.'
    if len(keys) > 1 and set(key['fingerprint'] for key in keys) >= set(expected):
        fix = ('A key file must hold the pinned keys and no other; ' + fix[0].lower() + fix[1:])
    return '%s Nothing was written to %s and nothing was installed. %s' % (head, dest, fix)


# ---------------------------------------------------------------------------------------------
# The module


def _download(module, url):
    params = module.params
    response, info = fetch_url(module, url, use_proxy=params['use_proxy'], timeout=params['timeout'])
    status = info.get('status')
    if response is None or status != 200:
        detail = to_native(info.get('msg') or 'no answer')
        if status and status > 0 and str(status) not in detail:
            detail = 'HTTP %s, %s' % (status, detail)
        module.fail_json(msg='Cannot download the key at %s (%s). Nothing was written to %s and nothing was '
                             'installed.' % (url, detail, params['dest']), url=url, status=status)
    data = response.read(MAX_SIZE + 1)
    if len(data) > MAX_SIZE:
        module.fail_json(msg='The key at %s is larger than %d bytes, so it is no key file. Nothing was written to %s '
                             'and nothing was installed.' % (url, MAX_SIZE, params['dest']), url=url)
    return data


def _read(path):
    if not os.path.exists(path):
        return None
    with open(path, 'rb') as handle:
        return handle.read()


def _write(module, dest, data):
    directory = os.path.dirname(dest) or '.'
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    handle, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(dest), dir=directory)
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(data)
    except Exception:
        os.unlink(tmp)
        raise
    module.atomic_move(tmp, dest)


def run_module(module):
    params = module.params
    dest = params['dest']
    try:
        expected = normalize_fingerprints(params['fingerprint'])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if not expected:
        module.fail_json(msg='fingerprint is empty: give the fingerprint the key must have.')
    if os.path.isdir(dest):
        module.fail_json(msg='dest %s is a folder; give the path of the key file.' % dest)

    url = params['url']
    data = _download(module, url) if url else to_bytes(params['content'])
    digest = hashlib.sha256(data).hexdigest()
    result = dict(changed=False, dest=dest, url=url, sha256=digest, fingerprints=[], keys=[])

    try:
        keys = read_keys(data)
    except KeyFormatError as exc:
        module.fail_json(msg=refusal(url, expected, dest, str(exc), pinned_by=params['pinned_by']),
                         expected=expected, **result)
    result.update(fingerprints=[key['fingerprint'] for key in keys], keys=keys)
    if set(result['fingerprints']) != set(expected):
        module.fail_json(msg=refusal(url, expected, dest, keys, pinned_by=params['pinned_by']),
                         expected=expected, **result)

    try:
        current = _read(dest)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot read %s: %s' % (dest, exc), **result)
    result['changed'] = current != data
    if result['changed'] and not module.check_mode:
        _write(module, dest, data)
    if os.path.exists(dest):
        file_args = module.load_file_common_arguments(dict(path=dest, mode=params['mode']))
        result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'])
    module.exit_json(**result)

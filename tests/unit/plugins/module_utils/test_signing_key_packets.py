"""The OpenPGP reading behind hpcdl.gpu.signing_key (plugins/module_utils/signing_key.py), on
keys gpg makes for the run (tests/unit/plugins/conftest.py: gpg_keys): the fingerprints must be
the ones gpg reads, for every way the same packets can be framed."""
import base64
import hashlib
import struct
from pathlib import Path

import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils.signing_key import (
    KeyFormatError,
    dearmor,
    fingerprint,
    normalize_fingerprints,
    packets,
    read_keys,
    refusal,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "signing_key"
# RFC 9580 Appendix A.3: a version 6 certificate (Ed25519 primary key, X25519 subkey), with the
# fingerprints the RFC gives for it.
RFC9580_V6 = FIXTURES / "rfc9580-a3-v6.asc"
RFC9580_V6_PRIMARY = "CB186C4F0609A697E4D52DFA6C722B0C1F1E27C18A56708F6525EC27BAD9ACC9"
RFC9580_V6_SUBKEY = "12C83F1E706F6308FE151A417743A1F033790E93E9978488D1DB378DA9930885"


def fingerprints(data):
    return [(key["fingerprint"], [sub["fingerprint"] for sub in key["subkeys"]]) for key in read_keys(data)]


def armor(binary, crc=True, headers=("Comment: made for a test",)):
    """ASCII armour as RFC 4880 section 6.2 writes it (64-character lines)."""
    text = base64.b64encode(binary).decode()
    lines = ["-----BEGIN PGP PUBLIC KEY BLOCK-----", *headers, ""]
    lines += [text[i:i + 64] for i in range(0, len(text), 64)]
    if crc:
        lines.append("=" + base64.b64encode(struct.pack(">I", crc24(binary))[1:]).decode())
    lines.append("-----END PGP PUBLIC KEY BLOCK-----")
    return ("\n".join(lines) + "\n").encode()


def crc24(data):
    crc = 0xB704CE
    for octet in data:
        crc ^= octet << 16
        for _bit in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


# Packet headers, each way RFC 4880 section 4.2 / RFC 9580 section 4.2 allows (tag, body -> bytes).
def new_format(tag, body, size=None):
    length = len(body)
    if size is None:
        size = 1 if length < 192 else 2 if length < 8384 else 5
    if size == 1:
        head = bytes([length])
    elif size == 2:
        head = bytes([((length - 192) >> 8) + 192, (length - 192) & 0xFF])
    else:
        head = b"\xff" + struct.pack(">I", length)
    return bytes([0xC0 | tag]) + head + body


def new_format_partial(tag, body):
    """Partial body lengths: 32-octet chunks (2**5), then the rest with a final length."""
    out, rest = bytes([0xC0 | tag]), body
    while len(rest) > 32:
        out, rest = out + bytes([224 + 5]) + rest[:32], rest[32:]
    return out + new_format(tag, rest)[1:]


def old_format(tag, body, length_type):
    if length_type == 3:
        return bytes([0x80 | tag << 2 | 3]) + body
    layout = {0: ">B", 1: ">H", 2: ">I"}[length_type]
    return bytes([0x80 | tag << 2 | length_type]) + struct.pack(layout, len(body)) + body


def reframe(binary, frame):
    return b"".join(frame(tag, bytes(body)) for tag, body, _offset in packets(binary))


@pytest.mark.parametrize("name", ["rsa", "ed25519"])
@pytest.mark.parametrize("form", ["armored", "binary"])
def test_the_fingerprints_are_the_ones_gpg_reads(gpg_keys, name, form):
    key = getattr(gpg_keys, name)
    assert fingerprints(getattr(key, form)) == [(key.fingerprint, key.subkeys)]


def test_a_key_with_subkeys_gives_one_primary_key_and_its_subkeys(gpg_keys):
    (key,) = read_keys(gpg_keys.ed25519.armored)
    assert len(gpg_keys.ed25519.subkeys) == 2
    assert [sub["fingerprint"] for sub in key["subkeys"]] == gpg_keys.ed25519.subkeys
    assert [sub["algorithm"] for sub in key["subkeys"]] == ["ecdh", "eddsa"]
    assert key["user_ids"] == ["hpcdl test Ed25519 <ed25519@test.invalid>"]
    assert key["version"] == 4 and key["algorithm"] == "eddsa" and key["created"] > 1500000000


def test_the_rsa_key_is_read_as_rsa(gpg_keys):
    assert gpg_keys.rsa.binary[0] == 0x99 and gpg_keys.ed25519.binary[0] == 0x98  # old format, 2 and 1 octets
    (key,) = read_keys(gpg_keys.rsa.binary)
    assert (key["algorithm"], key["subkeys"], key["user_ids"]) == ("rsa", [], ["hpcdl test RSA <rsa@test.invalid>"])


def test_two_primary_keys_in_one_file_are_both_found_in_order(gpg_keys):
    both = gpg_keys.gpg("--armor", "--export", gpg_keys.rsa.fingerprint, gpg_keys.other.fingerprint)
    expected = gpg_keys.listing(both)
    assert fingerprints(both) == expected
    assert {fpr for fpr, _info in expected} == {gpg_keys.rsa.fingerprint, gpg_keys.other.fingerprint}


def test_two_armour_blocks_in_one_file_are_both_read(gpg_keys):
    data = gpg_keys.rsa.armored + b"\n" + gpg_keys.ed25519.armored
    assert [fpr for fpr, _info in fingerprints(data)] == [gpg_keys.rsa.fingerprint, gpg_keys.ed25519.fingerprint]


def test_text_around_the_armour_block_is_ignored(gpg_keys):
    data = b"Docker's key, as the mirror serves it\r\n\r\n" + gpg_keys.rsa.armored.replace(b"\n", b"\r\n")
    assert fingerprints(data) == [(gpg_keys.rsa.fingerprint, [])]


@pytest.mark.parametrize("frame", [
    pytest.param(new_format, id="new-format-shortest"),
    pytest.param(lambda tag, body: new_format(tag, body, size=5), id="new-format-five-octets"),
    pytest.param(lambda tag, body: new_format(tag, body, size=2) if len(body) >= 192 else new_format(tag, body),
                 id="new-format-two-octets"),
    pytest.param(new_format_partial, id="new-format-partial-lengths"),
    pytest.param(lambda tag, body: old_format(tag, body, 2), id="old-format-four-octets"),
    pytest.param(lambda tag, body: old_format(tag, body, 1), id="old-format-two-octets"),
])
def test_every_packet_header_form_gives_the_same_fingerprints(gpg_keys, frame):
    """gpg itself writes old-format headers with the shortest length (one octet for the Ed25519
    packets, two for RSA's): the tests above; here the same packets with every other header."""
    key = gpg_keys.ed25519
    data = reframe(key.binary, frame)
    assert data != key.binary
    assert fingerprints(data) == [(key.fingerprint, key.subkeys)]
    assert fingerprints(armor(data)) == [(key.fingerprint, key.subkeys)]


def test_an_old_format_packet_of_indeterminate_length_runs_to_the_end(gpg_keys):
    (tag, body, _offset), = [p for p in packets(gpg_keys.rsa.binary) if p[0] == 6]
    assert fingerprints(old_format(tag, bytes(body), 3)) == [(gpg_keys.rsa.fingerprint, [])]


def test_the_rfc_9580_version_6_sample_has_the_rfcs_fingerprints():
    (key,) = read_keys(RFC9580_V6.read_bytes())
    assert key["fingerprint"] == RFC9580_V6_PRIMARY
    assert [sub["fingerprint"] for sub in key["subkeys"]] == [RFC9580_V6_SUBKEY]
    assert (key["version"], key["algorithm"]) == (6, "ed25519")


def test_a_version_5_fingerprint_is_sha256_over_0x9a_and_a_four_octet_length():
    body = bytes([5]) + struct.pack(">I", 1669824483) + bytes([27]) + struct.pack(">I", 32) + bytes(range(32))
    assert fingerprint(body) == hashlib.sha256(b"\x9a" + struct.pack(">I", len(body)) + body).hexdigest().upper()
    assert len(fingerprint(body)) == 64


def test_a_version_3_key_is_refused():
    body = bytes([3]) + struct.pack(">I", 0) + struct.pack(">H", 0) + bytes([1]) + b"\x00\x08\xff\x00\x02\x03"
    with pytest.raises(KeyFormatError, match="a version 3 key, which is obsolete"):
        read_keys(new_format(6, body))


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "the data is empty"),
    (b"<html><body>404 Not Found</body></html>", "neither an armoured key block nor OpenPGP packets"),
    (bytes(range(1, 64)), "neither an armoured key block nor OpenPGP packets"),
    (b"-----BEGIN PGP SIGNATURE-----\n\nabcd\n-----END PGP SIGNATURE-----\n",
     'no "BEGIN PGP PUBLIC KEY BLOCK" armour block'),
    (b"\xc0\x00", "the reserved tag 0"),
])
def test_garbage_is_no_readable_key(data, reason):
    with pytest.raises(KeyFormatError, match=reason):
        read_keys(data)


def test_a_truncated_packet_is_refused(gpg_keys):
    data = gpg_keys.rsa.binary[:len(gpg_keys.rsa.binary) // 2]
    with pytest.raises(KeyFormatError, match=r"the packet at byte \d+ is truncated"):
        read_keys(data)
    with pytest.raises(KeyFormatError, match="is truncated"):
        read_keys(armor(data))


def test_a_truncated_header_is_refused():
    with pytest.raises(KeyFormatError, match="the packet at byte 0 is truncated"):
        read_keys(b"\xc6\xff\x00")


def test_an_armour_block_cut_short_is_refused(gpg_keys):
    data = gpg_keys.rsa.armored.rsplit(b"-----END", 1)[0]
    with pytest.raises(KeyFormatError, match="has no END line: the file is cut short"):
        read_keys(data)


def test_an_armour_checksum_that_does_not_match_is_refused(gpg_keys):
    lines = armor(gpg_keys.rsa.binary).splitlines()
    crc = next(i for i, line in enumerate(lines) if line.startswith(b"="))
    lines[crc] = b"=AAAA"
    with pytest.raises(KeyFormatError, match="checksum of armour block 1 does not match: the key is damaged"):
        read_keys(b"\n".join(lines))


def test_an_armour_block_without_checksum_or_headers_is_read(gpg_keys):
    data = armor(gpg_keys.rsa.binary, crc=False, headers=())
    assert fingerprints(data) == [(gpg_keys.rsa.fingerprint, [])]


def test_a_changed_base64_character_is_refused(gpg_keys):
    data = bytearray(gpg_keys.rsa.armored)
    body = data.index(b"\n\n") + 2
    data[body + 10] = ord("!")
    with pytest.raises(KeyFormatError, match="not base64"):
        read_keys(bytes(data))


def test_a_secret_key_is_refused(gpg_keys):
    with pytest.raises(KeyFormatError, match="a secret key block, which must never be installed"):
        read_keys(gpg_keys.rsa.secret)
    with pytest.raises(KeyFormatError, match=r"a secret key \(the packet at byte 0\)"):
        read_keys(dearmor_secret(gpg_keys.rsa.secret))


def dearmor_secret(data):
    return dearmor(data.replace(b"PRIVATE KEY BLOCK", b"PUBLIC KEY BLOCK"))


def test_a_subkey_before_any_primary_key_is_refused(gpg_keys):
    subkey = next(p for p in packets(gpg_keys.ed25519.binary) if p[0] == 14)
    with pytest.raises(KeyFormatError, match="a subkey packet .* comes before any primary key"):
        read_keys(new_format(14, bytes(subkey[1])))


def test_a_file_of_signatures_only_holds_no_key(gpg_keys):
    bodies = [(tag, body) for tag, body, _offset in packets(gpg_keys.rsa.binary) if tag == 2]
    signatures = b"".join(new_format(tag, bytes(body)) for tag, body in bodies)
    with pytest.raises(KeyFormatError, match="no public key among them"):
        read_keys(signatures)


def test_dearmor_leaves_binary_data_alone(gpg_keys):
    assert dearmor(gpg_keys.rsa.binary) == gpg_keys.rsa.binary
    assert dearmor(gpg_keys.rsa.armored) == gpg_keys.rsa.binary


@pytest.mark.parametrize(("given", "expected"), [
    (["9DC8 5822 9FC7 DD38 854A  E2D8 8D81 803C 0EBF CD88"], ["9DC858229FC7DD38854AE2D88D81803C0EBFCD88"]),
    (["9dc858229fc7dd38854ae2d88d81803c0ebfcd88", "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"],
     ["9DC858229FC7DD38854AE2D88D81803C0EBFCD88"]),
    ([RFC9580_V6_PRIMARY.lower()], [RFC9580_V6_PRIMARY]),
])
def test_fingerprints_are_normalised(given, expected):
    assert normalize_fingerprints(given) == expected


@pytest.mark.parametrize(("given", "message"), [
    ("0EBFCD88", "which anyone can forge: give the full fingerprint"),
    ("8D81803C0EBFCD88", "which anyone can forge"),
    ("9DC858229FC7DD38854AE2D88D81803C0EBFCD8", "is not a full OpenPGP fingerprint: 40 hex digits"),
    ("CHANGE-ME", "'CHANGE-ME' is not a full OpenPGP fingerprint"),
])
def test_what_is_not_a_full_fingerprint_is_refused(given, message):
    with pytest.raises(ValueError, match=message):
        normalize_fingerprints([given])


KEY = {"fingerprint": "A" * 40, "user_ids": ["Someone <someone@test.invalid>"], "subkeys": []}
PINNED = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"


def test_the_refusal_names_the_url_what_it_holds_the_pinned_key_and_the_variable():
    message = refusal("http://127.0.0.1/gpg", [PINNED], "/etc/apt/keyrings/docker.asc", [KEY],
                      pinned_by="docker_repo_gpg_fingerprint")
    assert message == (
        "The key at http://127.0.0.1/gpg is not the one docker_repo_gpg_fingerprint pins "
        f"({PINNED}): it holds the key {'A' * 40} (Someone <someone@test.invalid>). Nothing was written to "
        "/etc/apt/keyrings/docker.asc and nothing was installed. Check the mirror, or set "
        "docker_repo_gpg_fingerprint to the fingerprint of the key that really signs it.")


def test_the_refusal_of_unreadable_data_says_why():
    message = refusal("http://127.0.0.1/gpg", [PINNED], "/k.asc", "the data is empty")
    assert f"is not the expected one ({PINNED}): it holds no readable OpenPGP key (the data is empty)." in message
    assert message.endswith("Check where the key comes from, or the fingerprint it must have.")


def test_the_refusal_of_an_extra_primary_key_says_that_only_the_pinned_keys_may_be_there():
    pinned = dict(KEY, fingerprint=PINNED, user_ids=[])
    message = refusal("http://127.0.0.1/gpg", [PINNED], "/k.asc", [pinned, KEY], pinned_by="v")
    assert f"it holds 2 primary keys, {PINNED}, {'A' * 40} (Someone <someone@test.invalid>)." in message
    assert "A key file must hold the pinned keys and no other; check the mirror, or set v to" in message

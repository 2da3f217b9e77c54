"""The nginx_build_info and htpasswd_ssha filters."""
import base64
import hashlib
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcdl.gpu.plugins.filter.nginx import FilterModule, htpasswd_ssha, nginx_build_info

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nginx"


def fixture(name):
    return (FIXTURES / name).read_text()


def test_registered():
    assert set(FilterModule().filters()) == {"nginx_build_info", "htpasswd_ssha"}


def test_debian_nginx():
    info = nginx_build_info(fixture("nginx-V_debian12_nginx-1.22.1-9.txt"))
    assert info["server"] == "nginx"
    assert info["version"] == info["nginx_version"] == "1.22.1"
    assert info["tengine_version"] == ""
    assert info["built_by"] == ""
    assert info["built_with"].startswith("OpenSSL 3.0.")
    assert info["tls_sni"] is True
    args = info["configure_arguments"]
    assert args[0] == ("--with-cc-opt=-g -O2 -ffile-prefix-map=/build/reproducible-path/nginx-1.22.1=. "
                       "-fstack-protector-strong -Wformat -Werror=format-security -fPIC -Wdate-time "
                       "-D_FORTIFY_SOURCE=2")
    assert args[1] == "--with-ld-opt=-Wl,-z,relro -Wl,-z,now -fPIC"
    assert "--prefix=/usr/share/nginx" in args and "--with-http_realip_module" in args
    assert "--with-http_realip" not in args, "a flag is an argument, not a substring"
    assert len(args) == 44


def test_the_labs_build():
    info = nginx_build_info(fixture("nginx-V_lab_nginx-1.22.1.txt"))
    assert info["version"] == "1.22.1" and info["tengine_version"] == ""
    assert info["built_by"].startswith("gcc 12.")
    assert info["configure_arguments"] == ["--prefix=/usr/local/nginx", "--with-http_realip_module"]


def test_tengine_reports_its_own_version_and_the_nginx_core():
    info = nginx_build_info(fixture("tengine-V_3.1.0.txt"))
    assert info["server"] == "Tengine"
    assert info["version"] == info["tengine_version"] == "3.1.0"
    assert info["nginx_version"] == "1.24.0"
    assert info["built_by"] == "gcc 12.2.0 (Debian 12.2.0-14)"
    assert info["configure_arguments"] == [
        "--prefix=/usr/local/nginx", "--with-http_realip_module", "--with-http_ssl_module",
        "--with-cc-opt=-O2 -g -pipe -Wall -fPIC", "--add-module=modules/ngx_http_upstream_check_module"]


@pytest.mark.parametrize("text, version", [
    ("nginx version: nginx/1.24.0 (Ubuntu)\nconfigure arguments: --prefix=/p\n", "1.24.0"),
    ("nginx version: openresty/1.25.3.1\n", "1.25.3.1"),
    ("Tengine version: Tengine/2.1.1 (nginx/1.6.2)\n", "2.1.1"),
])
def test_version_lines(text, version):
    assert nginx_build_info(text)["version"] == version


def test_no_binary_gives_empty_answers():
    info = nginx_build_info("/bin/sh: 1: /usr/local/nginx/sbin/nginx: not found\n")
    assert info["version"] == "" and info["configure_arguments"] == [] and info["tls_sni"] is False
    assert nginx_build_info("")["server"] == ""


def test_unbalanced_quotes_fall_back_to_words():
    assert nginx_build_info("configure arguments: --with-cc-opt='-O2 --x\n")["configure_arguments"] == \
        ["--with-cc-opt='-O2", "--x"]


def test_not_text_is_an_error():
    with pytest.raises(AnsibleFilterError, match="give the text that nginx -V prints"):
        nginx_build_info({"stderr": ""})


USERS = [{"name": "alice", "password": "S3cret-never-shown"}, {"name": "bob", "password": 12345}]


def old_role_lines(users, host):
    """What roles/tengine computed before this filter (a Jinja loop for the salts, then Python on
    the host): the filter must give the same lines, so an upgrade leaves the file as it is."""
    out = []
    for user in users:
        salt = hashlib.sha256(f"{host}:{user['name']}:{user['password']}".encode()).hexdigest()[:8].encode()
        digest = hashlib.sha1(str(user["password"]).encode() + salt).digest()
        out.append(user["name"] + ":{SSHA}" + base64.b64encode(digest + salt).decode())
    return out


def test_ssha_lines_are_the_ones_the_role_wrote_before():
    assert htpasswd_ssha(USERS, "jump") == old_role_lines(USERS, "jump")


def test_ssha_lines_verify_with_the_password_and_their_salt():
    for user, line in zip(USERS, htpasswd_ssha(USERS, "jump"), strict=True):
        name, hashed = line.split(":", 1)
        assert name == user["name"] and hashed.startswith("{SSHA}")
        raw = base64.b64decode(hashed[len("{SSHA}"):])
        digest, salt = raw[:20], raw[20:]
        assert len(salt) == 8
        assert hashlib.sha1(str(user["password"]).encode() + salt).digest() == digest


def test_salts_are_stable_per_host_and_user_and_differ_between_hosts():
    assert htpasswd_ssha(USERS, "jump") == htpasswd_ssha(USERS, "jump")
    assert htpasswd_ssha(USERS, "jump") != htpasswd_ssha(USERS, "jump2")
    same_password = [{"name": "a", "password": "x"}, {"name": "b", "password": "x"}]
    first, second = (line.split(":", 1)[1] for line in htpasswd_ssha(same_password, "jump"))
    assert first != second


def test_a_known_line():
    """Pinned, so a change of the scheme (which would rewrite every user's file) is seen."""
    assert htpasswd_ssha([{"name": "user", "password": "pass"}], "jump") == old_role_lines(
        [{"name": "user", "password": "pass"}], "jump")
    assert htpasswd_ssha([{"name": "user", "password": "pass"}], "jump")[0].startswith("user:{SSHA}")


@pytest.mark.parametrize("users, message", [
    ([{"name": "a:b", "password": "S3cret-never-shown"}], "user 1 has the name 'a:b'"),
    ([{"name": "a b", "password": "S3cret-never-shown"}], "user 1 has the name 'a b'"),
    ([{"password": "S3cret-never-shown"}], "user 1 has the name ''"),
    ([USERS[0], {"name": "carol", "password": ""}], r"user 2 \(carol\) has no password"),
    ([USERS[0], {"name": "carol"}], r"user 2 \(carol\) has no password"),
    ([USERS[0], "carol:S3cret-never-shown"], "user 2 is not a dict"),
    ("alice", "give a list of users"),
    ({"name": "alice", "password": "S3cret-never-shown"}, "give a list of users"),
])
def test_bad_users_are_errors_that_never_quote_a_password(users, message):
    with pytest.raises(AnsibleFilterError, match=message) as info:
        htpasswd_ssha(users, "jump")
    assert "S3cret-never-shown" not in str(info.value)


@pytest.mark.parametrize("seed", ["", None, 7])
def test_the_salt_seed_is_required(seed):
    with pytest.raises(AnsibleFilterError, match="give a non-empty salt seed"):
        htpasswd_ssha(USERS, seed)

"""hpcdl.gpu.tengine refuses bad input in its preflight, before anything is installed or built.

Runs against localhost with `-c local --check`: safe even if a check were missing (check mode
changes nothing), and the assertion that no task after the preflight ran proves it was not.
Localhost is Debian 12 here (a current distribution), where Tengine 2.1.x builds only without
TLS and basic auth.
"""

import pytest
from check_play import FIRST_STEP, OS_CHECK, assert_refused, role_play, run_check_play, task_names

PLAY = role_play("tengine")
BEFORE_PREFLIGHT = FIRST_STEP | {OS_CHECK}
PREFLIGHT_TASKS = {
    "Check that there is something to proxy to",
    "Check each route (a path, a backend address and a port)",
    "Check that no two routes share a path",
    "Check where the paths outside every route go",
    "Check the ports",
    "Check that tengine_version is a version number",
    "Check that tengine_source_sha256 is empty or a sha256",
    "Check that tengine_source_url is an http(s) or file URL of a tarball",
    "Check that tengine_configure_flags leaves --prefix to tengine_prefix",
    "Check that the prefix and the build folder are absolute paths",
    "Refuse TLS and basic auth with Tengine 2.1.x on a current distribution",
    "Check the TLS certificate and key paths",
    "Check the basic-auth users",
    "Check that tengine_allowed_sources holds IPv4 addresses or CIDRs",
}
ARGSPEC_TASK = "Validating arguments against arg spec 'main'"
GOOD = {"tengine_upstream_host": "192.0.2.10"}
ROUTE1 = {"name": "gpu1", "path": "/gpu1/", "host": "10.0.0.1"}
ROUTE2 = {"name": "gpu2", "path": "/gpu2/", "host": "10.0.0.2"}
LEGACY_REFUSAL = "Tengine 2.1.1 (nginx 1.6 core) cannot be built with TLS or basic auth on Debian"

CASES = {
    "legacy_with_tls": ({"tengine_version": "2.1.1", "tengine_tls_enabled": True,
                         "tengine_tls_certificate": "/etc/ssl/proxy.pem",
                         "tengine_tls_certificate_key": "/etc/ssl/proxy.key"},
                        LEGACY_REFUSAL),
    "legacy_with_basic_auth": ({"tengine_version": "2.1.1",
                                "tengine_basic_auth_users": [{"name": "user", "password": "S3cret-never-shown"}]},
                               LEGACY_REFUSAL),
    "legacy_with_ssl_flag": ({"tengine_version": "2.1.1", "tengine_configure_flags": ["--with-http_ssl_module"]},
                             'the flags ["--with-http_ssl_module"]'),
    "no_upstream": ({"tengine_upstream_host": ""},
                    'tengine_routes is empty and tengine_upstream_host is "": give the routes'),
    "route_path_without_slashes": ({"tengine_upstream_host": "", "tengine_routes": [ROUTE1, dict(ROUTE2, path="gpu2")]},
                                   'tengine_routes[1] is {"name": "gpu2", "path": "gpu2", "host": "10.0.0.2"}: a route '
                                   "needs a path that starts and ends with /"),
    "route_path_with_a_space": ({"tengine_upstream_host": "", "tengine_routes": [dict(ROUTE1, path="/my gpu/")]},
                                'tengine_routes[0] is {"name": "gpu1", "path": "/my gpu/", "host": "10.0.0.1"}'),
    "route_host_that_injects": ({"tengine_upstream_host": "",
                                 "tengine_routes": [dict(ROUTE1, host="10.0.0.1; deny all")]},
                                '"host": "10.0.0.1; deny all"}: a route needs a path'),
    "route_port_out_of_range": ({"tengine_upstream_host": "", "tengine_routes": [dict(ROUTE1, port=0)]},
                                '"port": 0}: a route needs a path'),
    "route_name_with_a_space": ({"tengine_upstream_host": "", "tengine_routes": [dict(ROUTE1, name="gpu one")]},
                                'tengine_routes[0] is {"name": "gpu one"'),
    "two_routes_one_path": ({"tengine_upstream_host": "", "tengine_routes": [ROUTE1, dict(ROUTE2, path="/gpu1/")]},
                            'tengine_routes has the paths ["/gpu1/", "/gpu1/"]: each path can be served by one'),
    "a_route_at_the_root_and_an_upstream": ({"tengine_routes": [dict(ROUTE1, path="/")]},
                                            "and tengine_upstream_host serves / as well"),
    "redirect_to_no_route": ({"tengine_upstream_host": "", "tengine_routes": [ROUTE1, ROUTE2],
                              "tengine_root_redirect": "/gpu9/"},
                             'tengine_root_redirect is "/gpu9/": give the path of one of tengine_routes '
                             "(/gpu1/, /gpu2/)"),
    "redirect_with_an_upstream": ({"tengine_routes": [ROUTE1], "tengine_root_redirect": "/gpu1/"},
                                  'it cannot be given with tengine_upstream_host ("192.0.2.10")'),
    "bad_port": ({"tengine_listen_port": 70000}, "tengine_listen_port is 70000: give a TCP port from 1 to 65535"),
    "bad_sha256": ({"tengine_source_sha256": "abc123"}, 'tengine_source_sha256 is "abc123": give the 64 hex digits'),
    "not_a_tarball": ({"tengine_source_url": "https://example.invalid/tengine.zip"},
                      'tengine_source_url is "https://example.invalid/tengine.zip": give the URL of a .tar.gz'),
    "prefix_in_flags": ({"tengine_configure_flags": ["--prefix=/opt/nginx"]},
                        "tengine_configure_flags holds a --prefix: set tengine_prefix"),
    "tls_without_paths": ({"tengine_tls_enabled": True}, "tengine_tls_enabled is true: set tengine_tls_certificate"),
    "bad_source": ({"tengine_allowed_sources": ["10.0.0.0/8", "anywhere"]},
                   'tengine_allowed_sources holds "anywhere": give IPv4 addresses or CIDRs'),
    "basic_auth_user_without_password": ({"tengine_basic_auth_users": [{"name": "user", "password": ""}]},
                                         "tengine_basic_auth_users: every entry needs a name"),
    "basic_auth_name_with_a_space": ({"tengine_basic_auth_users": [{"name": "us er",
                                                                    "password": "S3cret-never-shown"}]},
                                     "tengine_basic_auth_users: every entry needs a name"),
}


def run_play(tmp_path, variables):
    return run_check_play(tmp_path, PLAY, {**GOOD, **variables})


@pytest.mark.parametrize(("variables", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_in_preflight(tmp_path, variables, message):
    # The play stopped in the preflight: nothing was installed, downloaded or built.
    assert_refused(run_play(tmp_path, variables), "tengine", message, PREFLIGHT_TASKS | BEFORE_PREFLIGHT,
                   secret="S3cret-never-shown")


def test_legacy_without_tls_passes_the_preflight_with_the_flags_added(tmp_path):
    """2.1.1 without TLS or basic auth is accepted; the role's flags are what make it build."""
    proc = run_play(tmp_path, {"tengine_version": "2.1.1", "tengine_source_sha256": "0" * 64,
                               "tengine_source_url": "file:///nonexistent/tengine-2.1.1.tar.gz"})
    output = proc.stdout + proc.stderr
    ran = task_names("tengine", proc.stdout)
    assert "Refuse TLS and basic auth with Tengine 2.1.x on a current distribution" in ran, output
    assert any(name not in PREFLIGHT_TASKS | BEFORE_PREFLIGHT for name in ran if not name.startswith(ARGSPEC_TASK)), ran


ARGSPEC_CASES = {
    "tls_sometimes": ({"tengine_tls_enabled": "sometimes"}, "tengine_tls_enabled"),
    "route_without_a_host": ({"tengine_upstream_host": "", "tengine_routes": [{"name": "gpu1", "path": "/gpu1/"}]},
                             "missing required arguments: host"),
    "route_with_an_unknown_key": ({"tengine_upstream_host": "", "tengine_routes": [dict(ROUTE1, upstream="x")]},
                                  "upstream"),
    "routes_as_a_mapping": ({"tengine_upstream_host": "", "tengine_routes": {"gpu1": "/gpu1/"}}, "tengine_routes"),
}


@pytest.mark.parametrize(("variables", "message"), ARGSPEC_CASES.values(), ids=ARGSPEC_CASES.keys())
def test_a_wrong_type_is_refused_by_the_argument_specs(tmp_path, variables, message):
    proc = run_play(tmp_path, variables)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert message in output
    assert task_names("tengine", proc.stdout)[-1].startswith(ARGSPEC_TASK)
    print(next(line for line in output.splitlines() if message in line).strip()[:300])


def test_routes_with_a_redirect_pass_the_preflight(tmp_path):
    """The fleet's input (one route per node, the other paths to the first) goes past the preflight."""
    proc = run_play(tmp_path, {"tengine_upstream_host": "", "tengine_routes": [ROUTE1, dict(ROUTE2, port=8080)],
                               "tengine_root_redirect": "/gpu1/", "tengine_source_sha256": "0" * 64,
                               "tengine_source_url": "file:///nonexistent/nginx-1.22.1.tar.gz"})
    ran = task_names("tengine", proc.stdout)
    assert "Check where the paths outside every route go" in ran, proc.stdout
    assert any(name not in PREFLIGHT_TASKS | BEFORE_PREFLIGHT for name in ran if not name.startswith(ARGSPEC_TASK)), ran

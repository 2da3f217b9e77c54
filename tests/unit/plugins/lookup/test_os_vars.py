"""hpcdl.gpu.os_vars: the lookup behind every role's first step (hpcdl.gpu.set_vars), on the collection's own
roles and on role folders under tmp_path.

The most specific file wins (distribution-major, distribution, family-major, family); a role without OS files
gets none; an OS the role has no values for is refused with the OS and the files it has, in words; a bad role
name or a role that is not there is refused too (the check set_vars' argument spec would have made).
"""
from pathlib import Path

import pytest
from ansible.errors import AnsibleLookupError
from ansible_collections.hpcdl.gpu.plugins.lookup import os_vars
from ansible_collections.hpcdl.gpu.plugins.lookup.os_vars import LookupModule

ROLES = Path(__file__).resolve().parents[4] / "roles"
DEBIAN_12 = {"distribution": "Debian", "distribution_major_version": "12", "distribution_version": "12.8",
             "os_family": "Debian"}
DEBIAN_13 = dict(DEBIAN_12, distribution_major_version="13", distribution_version="13.1")
UBUNTU = {"distribution": "Ubuntu", "distribution_major_version": "24", "distribution_version": "24.04",
          "os_family": "Debian"}
ARCH = {"distribution": "Archlinux", "distribution_major_version": "rolling", "distribution_version": "rolling",
        "os_family": "Archlinux"}


def lookup(role, facts, roles_path=ROLES):
    return LookupModule().run([role], variables={"ansible_facts": facts}, roles_path=str(roles_path))


def names(paths):
    return [Path(path).name for path in paths]


@pytest.fixture
def roles(tmp_path):
    vars_dir = tmp_path / "demo" / "vars"
    vars_dir.mkdir(parents=True)
    for name in ("main", "Debian", "Ubuntu", "Debian-13", "RedHat"):
        (vars_dir / f"{name}.yml").write_text("---\n")
    (tmp_path / "plain" / "vars").mkdir(parents=True)
    (tmp_path / "plain" / "vars" / "main.yml").write_text("---\n")
    (tmp_path / "bare").mkdir()
    return tmp_path


@pytest.mark.parametrize(("facts", "expected"), [(DEBIAN_12, "Debian.yml"), (DEBIAN_13, "Debian-13.yml"),
                                                 (UBUNTU, "Ubuntu.yml"),
                                                 ({**UBUNTU, "distribution": "Pop!_OS"}, "Debian.yml")])
def test_the_most_specific_file_is_the_one_loaded(roles, facts, expected):
    assert names(lookup("demo", facts, roles)) == [expected]


def test_a_role_without_os_files_loads_nothing_on_any_os(roles):
    assert lookup("plain", ARCH, roles) == []
    assert lookup("bare", ARCH, roles) == []


def test_an_os_the_role_has_no_values_for_is_refused_naming_what_it_has(roles):
    with pytest.raises(AnsibleLookupError) as error:
        lookup("demo", ARCH, roles)
    assert str(error.value) == ("Archlinux rolling (Archlinux family) is not supported by hpcdl.gpu.demo: it has "
                                "values for Debian, Debian-13, RedHat, Ubuntu (roles/demo/vars/).")


def test_missing_facts_are_named_as_unknown_not_a_crash(roles):
    with pytest.raises(AnsibleLookupError, match=r"^This OS  \(unknown family\) is not supported by hpcdl.gpu.demo"):
        lookup("demo", {}, roles)


@pytest.mark.parametrize("role", ["", "Docker", "../docker", None, ["docker"]])
def test_a_bad_role_name_is_refused(roles, role):
    with pytest.raises(AnsibleLookupError, match="is not a role name"):
        lookup(role, DEBIAN_12, roles)


def test_a_role_that_is_not_there_is_refused(roles):
    with pytest.raises(AnsibleLookupError, match=r"there is no role nosuch in "):
        lookup("nosuch", DEBIAN_12, roles)


@pytest.mark.parametrize(("terms", "options", "message"), [
    (["docker", "cuda"], {"roles_path": str(ROLES)}, "takes one role name, not 2 terms"),
    (["docker"], {}, "needs roles_path, the folder that holds the role"),
    (["docker"], {"roles_path": str(ROLES), "path": "/"}, "takes roles_path only, not path"),
])
def test_a_bad_call_is_refused_in_words(terms, options, message):
    with pytest.raises(AnsibleLookupError, match=message):
        LookupModule().run(terms, variables={"ansible_facts": DEBIAN_12}, **options)


@pytest.mark.parametrize("role", sorted(path.parent.name for path in ROLES.glob("*/vars")))
def test_every_role_of_the_collection_has_values_for_debian_12(role):
    """The lab's nodes are Debian 12: every role finds its values there, or has none to find."""
    found = lookup(role, DEBIAN_12)
    assert found == [] or all(Path(path).is_file() for path in found), found
    assert os_vars.os_files(ROLES / role / "vars") == [] or found, role

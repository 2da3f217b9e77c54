"""packages_missing: which packages an install step would still install, from the package facts."""
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcdl.gpu.plugins.filter.packages import FilterModule, packages_missing

# ansible.builtin.package_facts on Debian 12 (apt) and EL (rpm), as they shape their answers.
APT = {
    "tmux": [{"name": "tmux", "version": "3.3a-3", "arch": "amd64", "category": "admin", "origin": "Debian",
              "source": "apt"}],
    "wireguard-tools": [{"name": "wireguard-tools", "version": "1.0.20210914-1+b1", "arch": "amd64",
                         "source": "apt"}],
    "libc6": [{"name": "libc6", "version": "2.36-9+deb12u9", "arch": "amd64", "source": "apt"}],
    "docker.io": [{"name": "docker.io", "version": "20.10.24+dfsg1-1+b3", "arch": "amd64", "source": "apt"}],
    "iptables": [{"name": "iptables", "version": "1.8.9-2", "arch": "amd64", "source": "apt"}],
    "openssh-client": [{"name": "openssh-client", "version": "1:9.2p1-2+deb12u5", "arch": "amd64",
                        "source": "apt"}],
}
RPM = {
    "wireguard-tools": [{"name": "wireguard-tools", "version": "1.0.20210914", "release": "2.el9", "epoch": None,
                         "arch": "x86_64", "source": "rpm"}],
}


def test_plain_names_are_missing_only_when_not_installed():
    assert packages_missing(["tmux", "htop", "docker.io"], APT) == ["htop"]
    assert packages_missing(["tmux", "iptables"], APT) == []


def test_without_package_facts_everything_is_missing():
    assert packages_missing(["tmux", "htop"], None) == ["tmux", "htop"]
    assert packages_missing(["tmux"], {}) == ["tmux"]


def test_a_version_constraint_or_an_architecture_is_left_to_the_package_manager():
    assert packages_missing(["tmux=3.3a-3", "tmux:amd64", "@development", "https://x.invalid/a.rpm"], APT) == [
        "tmux=3.3a-3", "tmux:amd64", "@development", "https://x.invalid/a.rpm"]


def test_deb_files_are_installed_at_their_version():
    files = ["/var/cache/hpcdl/wireguard-tools_1.0.20210914-1+b1_amd64.deb",
             "/var/cache/hpcdl/wireguard-tools_1.0.20200827-1_amd64.deb",
             "/var/cache/hpcdl/wireguard-go_0.0.20220316-1+b3_amd64.deb",
             "openssh-client_9.2p1-2+deb12u5_amd64.deb",
             "libc6_2.36-9%2bdeb12u9_amd64.deb"]
    assert packages_missing(files, APT) == files[1:3]


def test_rpm_files_are_installed_at_their_version_and_release():
    files = ["/srv/pkgs/wireguard-tools-1.0.20210914-2.el9.x86_64.rpm",
             "/srv/pkgs/wireguard-tools-1.0.20210914-1.el9.x86_64.rpm"]
    assert packages_missing(files, RPM) == files[1:]


def test_a_single_name_is_a_list_of_one():
    assert packages_missing("htop", APT) == ["htop"]


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError, match="give a list of package names"):
        packages_missing(42, APT)


def test_the_filter_is_registered():
    assert FilterModule().filters()["packages_missing"] is packages_missing

"""hpcdl.gpu.docker and hpcdl.gpu.nvidia_docker refuse bad input before anything changes.

Runs against localhost with `-c local --check`: safe even if a check were missing (check mode
changes nothing), and the assertion that only preflight tasks ran proves it was not. (The
archive whose checksum fails is refused on the lab: molecule/docker's verifier.)
"""

import pytest
from check_play import ARGSPEC_TASK, assert_refused, fact_cache, role_play, run_check_play, type_refused

PREFLIGHT = {
    "docker": {
        "Check that docker_daemon_options is a mapping of option names to values",
        "Check the daemon options against what Docker accepts",
        "Check that Docker's repository is given as a URL with its key's fingerprint",
        "Check that every image archive names its image, one source and a sha256",
        "Look up the users to add to the docker group",
        "Refuse users that do not exist",
    },
    "nvidia_docker": {
        "Look for an NVIDIA driver (the GPU steps run only where one is loaded)",  # read-only, tagged always
        "Refuse the legacy path where its rpm cannot be installed",
        "Check that the legacy rpm is given with its sha256",
        "Check the toolkit repository's URL and key fingerprint",
        "Check the runtime's name and the daemon options it adds",
    },
}
SHA = "0" * 64

CASES = {
    "daemon_options_as_a_string": (
        "docker", {"docker_daemon_options": "registry-mirrors=https://mirror.example"},
        'docker_daemon_options must be a mapping of Docker daemon option names to values'),
    "mirror_without_a_scheme": (
        "docker", {"docker_registry_mirrors": ["registry.docker-cn.com"]},
        '"registry.docker-cn.com" is not a URL with http:// or https://'),
    "option_name_with_underscores": (
        "docker", {"docker_daemon_options": {"registry_mirrors": ["https://m.example"]}},
        '"registry_mirrors" is not a Docker daemon option name (did you mean "registry-mirrors"?)'),
    "log_opts_value_not_a_string": (
        "docker", {"docker_log_opts": {"max-size": "100m", "max-file": 3}},
        'log-opts values must be strings (Docker refuses max-file: 3): write max-file: "3"'),
    "live_restore_not_a_boolean": (
        "docker", {"docker_daemon_options": {"live-restore": "yes"}},
        'live-restore must be true or false, not a string ("yes")'),
    "relative_data_root": (
        "docker", {"docker_data_root": "docker-data"},
        'data-root must be an absolute path, not "docker-data"'),
    "archive_without_sha256": (
        "docker", {"docker_image_archives": [{"image": "busybox:1", "url": "http://127.0.0.1/busybox.tar"}]},
        "docker_image_archives[0] is"),
    "archive_with_url_and_src": (
        "docker", {"docker_image_archives": [{"image": "busybox:1", "url": "http://127.0.0.1/b.tar",
                                              "src": "/tmp/b.tar", "sha256": SHA}]},
        "exactly one of url (downloaded by the host) or src"),
    "docker_repo_fingerprint_not_hex": (
        "docker", {"docker_source": "docker", "docker_repo_gpg_fingerprint": "0EBFCD88"},
        "docker_repo_gpg_fingerprint the 40 hex digits of its signing key"),
    "user_that_does_not_exist": (
        "docker", {"docker_users": ["no-such-user-hpcdl"]},
        "docker_users holds no-such-user-hpcdl, which is not a user on localhost"),
    "legacy_path_on_debian": (
        "nvidia_docker", {"nvidia_docker_path": "legacy", "nvidia_docker_legacy_rpm_sha256": SHA},
        "nvidia_docker_path is legacy: nvidia-docker 1.0.1 is an rpm for EL 7"),
    "runtime_name_docker_refuses": (
        "nvidia_docker", {"nvidia_docker_runtime_path": ""},
        'runtimes.nvidia needs a "path"'),
    "toolkit_fingerprint_not_hex": (
        "nvidia_docker", {"nvidia_docker_repo_gpg_fingerprint": "F796ECB0"},
        "nvidia_docker_repo_gpg_fingerprint the 40 hex digits of its signing key"),
}
ARGSPEC_CASES = {
    "unknown_nvidia_docker_path": (
        "nvidia_docker", {"nvidia_docker_path": "nvidia-docker2"},
        "value of nvidia_docker_path must be one of: auto, toolkit, legacy, got: nvidia-docker2"),
    "unknown_docker_source": (
        "docker", {"docker_source": "snap"},
        "value of docker_source must be one of: auto, distribution, docker, got: snap"),
    "daemon_options_not_a_dict": (
        "docker", {"docker_daemon_options": ["registry-mirrors"]},
        type_refused("docker_daemon_options", "list")),
}


def run_play(tmp_path, role, variables, extra_env=None):
    return run_check_play(tmp_path, role_play(role), variables, extra_env=extra_env)


@pytest.mark.parametrize(("role", "variables", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_in_preflight(tmp_path, role, variables, message):
    # Only the argument-spec validation and preflight tasks ran; nothing was installed or written.
    assert_refused(run_play(tmp_path, role, variables), role, message, PREFLIGHT[role])


@pytest.mark.parametrize(("role", "variables", "message"), ARGSPEC_CASES.values(), ids=ARGSPEC_CASES.keys())
def test_a_wrong_choice_or_type_is_refused_by_the_argument_specs(tmp_path, role, variables, message):
    ran = assert_refused(run_play(tmp_path, role, variables), role, message)
    assert ran[-1].startswith(ARGSPEC_TASK), ran


def test_on_the_seeds_centos_7_the_legacy_path_is_chosen_and_needs_the_rpms_sha256(tmp_path):
    """EL 7 facts (from a fact cache: this machine is Debian) select the legacy path by default,
    and its preflight refuses to go on without the rpm's sha256."""
    facts = {"ansible_distribution": "CentOS", "ansible_distribution_release": "Core",
             "ansible_distribution_version": "7.3", "ansible_distribution_major_version": "7",
             "ansible_os_family": "RedHat", "module_setup": True}
    env = fact_cache(tmp_path, facts)
    ran = assert_refused(run_play(tmp_path, "nvidia_docker", {}, env), "nvidia_docker",
                         "nvidia_docker_path is legacy: nvidia_docker_legacy_rpm_url must be a URL",
                         PREFLIGHT["nvidia_docker"])
    assert "Refuse the legacy path where its rpm cannot be installed" in ran  # passed: EL
    assert ran[-1] == "Check that the legacy rpm is given with its sha256"

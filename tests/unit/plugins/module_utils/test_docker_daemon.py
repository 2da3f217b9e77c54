"""The daemon.json merge logic (plugins/module_utils/docker_daemon.py) on its own."""
import json

import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils.docker_daemon import (
    DaemonConfigError,
    check_merged,
    merge_config,
    modified_keys,
    parse_config,
    render,
    validate_options,
)

# What the lab plants on gpu1 before the roles run: the user's own keys.
USER = """{
  "runtimes": {"hpcdl-lab-runc": {"path": "/usr/local/libexec/hpcdl-lab-runc"}},
  "default-runtime": "hpcdl-lab-runc",
  "max-concurrent-downloads": 2,
  "log-opts": {"max-file": "3"}
}"""
NVIDIA = {"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}


def test_merging_a_runtime_keeps_the_users_runtime_and_keys():
    existing = parse_config(USER)
    merged = merge_config(existing, NVIDIA)
    assert merged["runtimes"] == {
        "hpcdl-lab-runc": {"path": "/usr/local/libexec/hpcdl-lab-runc"},
        "nvidia": {"path": "nvidia-container-runtime"},
    }
    assert merged["default-runtime"] == "hpcdl-lab-runc"
    assert merged["max-concurrent-downloads"] == 2
    assert modified_keys(existing, merged) == ["runtimes.nvidia"]


def test_objects_merge_key_by_key_and_other_values_are_replaced():
    existing = parse_config(USER)
    merged = merge_config(existing, {"log-opts": {"max-size": "100m"}, "max-concurrent-downloads": 5,
                                     "registry-mirrors": ["https://mirror.example"]})
    assert merged["log-opts"] == {"max-file": "3", "max-size": "100m"}
    assert merged["max-concurrent-downloads"] == 5
    expected = ["log-opts.max-size", "max-concurrent-downloads", "registry-mirrors"]
    assert sorted(modified_keys(existing, merged)) == expected


def test_the_users_key_order_is_kept_and_ours_come_last():
    merged = merge_config(parse_config(USER), {"data-root": "/data/docker"})
    assert list(merged) == ["runtimes", "default-runtime", "max-concurrent-downloads", "log-opts", "data-root"]


def test_null_removes_a_key():
    existing = parse_config(USER)
    merged = merge_config(existing, {"default-runtime": None, "missing": None})
    assert "default-runtime" not in merged
    assert modified_keys(existing, merged) == ["default-runtime"]


def test_merging_what_is_already_there_changes_nothing():
    existing = parse_config(USER)
    once = merge_config(existing, NVIDIA)
    assert merge_config(once, NVIDIA) == once
    assert modified_keys(once, merge_config(once, NVIDIA)) == []


def test_merge_does_not_modify_its_arguments():
    existing = parse_config(USER)
    options = {"runtimes": {"nvidia": {"path": "x"}}}
    snapshot = (json.dumps(existing), json.dumps(options))
    merge_config(existing, options)
    assert (json.dumps(existing), json.dumps(options)) == snapshot


@pytest.mark.parametrize("text", [None, "", "  \n"])
def test_a_missing_or_blank_file_is_an_empty_config(text):
    assert parse_config(text) == {}


def test_invalid_json_is_refused_naming_the_file_and_where():
    with pytest.raises(DaemonConfigError) as err:
        parse_config('{"debug": true,,}', "/etc/docker/daemon.json")
    message = str(err.value)
    assert message.startswith("/etc/docker/daemon.json is not valid JSON (")
    assert "line 1 column 16" in message
    assert message.endswith("It was left untouched.")


def test_a_json_list_is_refused():
    with pytest.raises(DaemonConfigError, match="holds a list, not a JSON object"):
        parse_config('["debug"]', "/etc/docker/daemon.json")


@pytest.mark.parametrize(("options", "problem"), [
    ("registry-mirrors=https://x", "must be a mapping of Docker option names to values, not a string"),
    ({"registry-mirrors": "https://mirror.example"}, "registry-mirrors must be a list of strings, not a string"),
    ({"registry-mirrors": ["mirror.example"]}, '"mirror.example" is not a URL with http:// or https://'),
    ({"registry_mirrors": ["https://m.example"]}, '"registry_mirrors" is not a Docker daemon option name '
                                                  '(did you mean "registry-mirrors"?)'),
    ({"live-restore": "yes"}, 'live-restore must be true or false, not a string ("yes")'),
    ({"max-concurrent-downloads": "3"}, "max-concurrent-downloads must be a whole number, not a string"),
    ({"max-concurrent-downloads": True}, "max-concurrent-downloads must be a whole number, not a boolean"),
    ({"data-root": "docker"}, 'data-root must be an absolute path, not "docker"'),
    ({"log-level": "verbose"}, "log-level must be one of debug, info, warn, error, fatal"),
    ({"log-opts": {"max-size": "10m", "max-file": 3}}, 'Docker refuses max-file: 3): write max-file: "3"'),
    ({"runtimes": {"nvidia": {}}}, "runtimes.nvidia needs a \"path\""),
    ({"runtimes": {"nvidia": "nvidia-container-runtime"}}, "runtimes.nvidia must be an object with a \"path\""),
    ({"runtimes": ["nvidia"]}, "runtimes must be an object, not a list"),
])
def test_what_docker_would_refuse_is_named(options, problem):
    problems = validate_options(options)
    assert any(problem in p for p in problems), problems


def test_good_options_pass():
    assert validate_options({
        "registry-mirrors": ["https://registry.docker-cn.com", "http://10.0.0.1:5000"],
        "data-root": "/data/docker", "log-driver": "json-file",
        "log-opts": {"max-size": "100m", "max-file": "3"}, "live-restore": True,
        "max-concurrent-downloads": 3, "default-runtime": "nvidia",
        "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}},
        "some-future-option": {"anything": 1}, "default-runtime-removed": None,
    }) == []


def test_a_default_runtime_must_be_defined_in_the_merged_file():
    assert check_merged(parse_config(USER), "daemon.json") == []
    assert check_merged({"default-runtime": "runc"}, "daemon.json") == []
    problems = check_merged(merge_config(parse_config(USER), {"default-runtime": "nvidia"}), "/etc/docker/daemon.json")
    assert problems == ['default-runtime "nvidia" is not a runtime defined in /etc/docker/daemon.json '
                        '(defined: runc, io.containerd.runc.v2, hpcdl-lab-runc): Docker would not start.']
    assert check_merged(merge_config(parse_config(USER), dict(NVIDIA, **{"default-runtime": "nvidia"})), "x") == []


def test_render_is_json_with_a_final_newline():
    text = render(merge_config(parse_config(USER), NVIDIA))
    assert text.endswith("}\n")
    assert json.loads(text)["runtimes"]["nvidia"] == {"path": "nvidia-container-runtime"}

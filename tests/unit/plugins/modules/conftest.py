"""Runs a module's main() in this process: the real AnsibleModule with the given arguments, and
exit_json / fail_json raising Done (its .result and .failed) instead of exiting."""
import json
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19
    patch_module_args = None


class Done(Exception):
    def __init__(self, result, failed):
        super().__init__(result)
        self.result, self.failed = result, failed


def module_args(args):
    if patch_module_args is None:
        return mock.patch.object(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
    return patch_module_args(args)


@pytest.fixture
def run_main(monkeypatch):
    """run_main(module_file, args) -> Done."""
    def exit_json(self, **kwargs):
        raise Done(kwargs, False)

    def fail_json(self, **kwargs):
        raise Done(kwargs, True)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def call(module_file, args):
        with module_args(args), pytest.raises(Done) as done:
            module_file.main()
        return done.value

    return call

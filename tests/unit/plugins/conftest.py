"""Shared helpers for the cuda_compat unit tests.

- ``fixture_text`` / ``fixture_json`` read recorded outputs from tests/unit/fixtures/cuda_compat.
- ``FakeLibrary`` stands in for a ctypes.CDLL: its functions write into the ctypes buffers and
  pointers the probe passes, the way libnvidia-ml and libcuda do.
- ``run_main`` runs a module's real ``main()`` in this process (the real AnsibleModule with the given
  arguments), exit_json / fail_json raising ``Done`` (its ``.result``, ``.failed``, ``.warnings``)
  instead of exiting: the one in-process runner every module test uses.
- ``module_runner`` runs cuda_compat through ``run_main`` with the host replaced by files under
  tmp_path and by fake commands and libraries.
- ``gpg_keys`` (for the signing_key tests): real keys made by gpg in a GNUPGHOME of their own,
  with the fingerprints gpg itself reads from them.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.hpcdl.gpu.plugins.module_utils import cuda_probe
from ansible_collections.hpcdl.gpu.plugins.modules import cuda_compat as module_file

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19
    patch_module_args = None

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cuda_compat"
HOSTS = FIXTURES / "hosts"
PCI_ADDRESS = re.compile(r"^[0-9a-f]{4}_[0-9a-f]{2}_[0-9a-f]{2}\.[0-7]$")


def materialise_host(name, dest):
    """Copy the recorded host tests/unit/fixtures/cuda_compat/hosts/<name> to dest, its PCI
    addresses spelt as the kernel spells them (0000:18:00.0; the fixture says 0000_18_00.0,
    as ansible-test refuses ':' in file names). Returns dest."""
    source = HOSTS / name
    assert source.is_dir(), f"no recorded host {name} in {HOSTS}"
    for path in sorted(source.rglob("*")):
        relative = Path(*[part.replace("_", ":") if PCI_ADDRESS.match(part) else part
                          for part in path.relative_to(source).parts])
        target = dest / relative
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return dest


def fixture_text(name):
    return (FIXTURES / name).read_text()


def fixture_json(name):
    return json.loads(fixture_text(name))


class FakeFunction:
    """A C function: records its calls, returns what ``impl`` returns."""

    def __init__(self, impl):
        self.impl = impl
        self.calls = []

    def __call__(self, *args):
        self.calls.append(args)
        return self.impl(*args)


class FakeLibrary:
    """A loaded shared library with only the given symbols (others raise AttributeError)."""

    def __init__(self, name, **functions):
        self._name = name
        for symbol, impl in functions.items():
            setattr(self, symbol, FakeFunction(impl))


def _string_answer(code, value):
    def impl(buf, size):
        if value is not None:
            buf.value = value.encode()
        return code
    return impl


def _int_answer(code, value):
    def impl(ref):
        ref._obj.value = value
        return code
    return impl


def _nvml_device_functions(devices):
    """nvmlDevice* answers for ``devices``: [(bus id as NVML prints it, PCI device id, name,
    (major, minor))]; a handle is the device's index + 1."""
    def count(ref):
        ref._obj.value = len(devices)
        return 0

    def handle(index, ref):
        ref._obj.value = index.value + 1
        return 0

    def pci(handle_, ref):
        bus_id, device_id, _name, _cc = devices[handle_.value - 1]
        ref._obj.busId = bus_id.encode()
        ref._obj.pciDeviceId = (device_id << 16) | 0x10DE
        return 0

    def name(handle_, buf, size):
        buf.value = devices[handle_.value - 1][2].encode()
        return 0

    def capability(handle_, major, minor):
        major._obj.value, minor._obj.value = devices[handle_.value - 1][3]
        return 0

    return {"nvmlDeviceGetCount_v2": count, "nvmlDeviceGetHandleByIndex_v2": handle,
            "nvmlDeviceGetPciInfo_v3": pci, "nvmlDeviceGetName": name,
            "nvmlDeviceGetCudaComputeCapability": capability}


def nvml_library(*, init=0, driver=None, nvml_version=None, cuda=None,
                 name="libnvidia-ml.so.1", nvml_version_code=0, devices=None):
    """A fake libnvidia-ml; ``init`` is what nvmlInit_v2 returns; ``cuda`` like 12020;
    ``devices`` (see _nvml_device_functions) the GPUs its device queries answer for."""
    functions = {
        "nvmlInit_v2": lambda: init,
        "nvmlShutdown": lambda: 0 if init == 0 else 1,
        "nvmlSystemGetNVMLVersion": _string_answer(nvml_version_code if nvml_version else 1,
                                                   nvml_version),
        "nvmlSystemGetDriverVersion": _string_answer(0 if init == 0 and driver else 1,
                                                     driver if init == 0 else None),
    }
    if cuda is not None:  # drivers before 410 have no nvmlSystemGetCudaDriverVersion
        functions["nvmlSystemGetCudaDriverVersion_v2"] = _int_answer(
            0 if init == 0 else 1, cuda if init == 0 else 0)
    if devices is not None:
        functions.update(_nvml_device_functions(devices))
    return FakeLibrary(name, **functions)


def nvml_from_recording(recording):
    """Replay what the real libnvidia-ml answered (tests/unit/fixtures/.../nvml_*.json)."""
    code, version = recording["nvmlSystemGetNVMLVersion"]
    driver_code, driver = recording["nvmlSystemGetDriverVersion"]
    cuda_code, cuda = recording["nvmlSystemGetCudaDriverVersion_v2"]
    return FakeLibrary(
        "libnvidia-ml.so.1",
        nvmlInit_v2=lambda: recording["nvmlInit_v2"],
        nvmlShutdown=lambda: 1,
        nvmlSystemGetNVMLVersion=_string_answer(code, version),
        nvmlSystemGetDriverVersion=_string_answer(driver_code, driver or None),
        nvmlSystemGetCudaDriverVersion_v2=_int_answer(cuda_code, cuda),
    )


def libcuda_library(version_code=0, version=0):
    """libcuda as the module may use it: cuDriverGetVersion only (no cuInit: it is never called)."""
    return FakeLibrary(
        "libcuda.so.1",
        cuDriverGetVersion=_int_answer(version_code, version),
    )


def loader_for(*libraries):
    """A replacement for ctypes.CDLL that knows only the given fake libraries."""
    by_name = {library._name: library for library in libraries}

    def load(name):
        if name in by_name:
            return by_name[name]
        raise OSError(f"{name}: cannot open shared object file: No such file or directory")
    return load


class Done(Exception):
    """How a module run ended: ``result`` (what exit_json / fail_json got), ``failed``, ``warnings``."""

    def __init__(self, result, failed, warnings):
        super().__init__(result)
        self.result, self.failed, self.warnings = result, failed, warnings


def _module_args(args):
    if patch_module_args is None:  # ansible-core before 2.19
        payload = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        return mock.patch.object(basic, "_ANSIBLE_ARGS", payload)
    return patch_module_args(args)


class ModuleRun:
    """Result of one cuda_compat run: ``result`` (dict), ``failed`` (bool), ``warnings``, ``commands``."""

    def __init__(self, result, failed, warnings, commands):
        self.result = result
        self.failed = failed
        self.warnings = warnings
        self.commands = commands


@pytest.fixture
def run_main(monkeypatch):
    """run_main(module_file, args) -> Done."""
    warnings = []

    def exit_json(self, **kwargs):
        raise Done(kwargs, False, list(warnings))

    def fail_json(self, **kwargs):
        raise Done(kwargs, True, list(warnings))

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, message: warnings.append(message))

    def call(module_file, args):
        del warnings[:]
        with _module_args(args), pytest.raises(Done) as done:
            module_file.main()
        return done.value

    return call


@pytest.fixture
def module_runner(monkeypatch, tmp_path, run_main):
    """Run plugins/modules/cuda_compat.py main() against a fake host.

    Call it with the module args and keyword arguments describing the host:
    host (a recorded host under fixtures/cuda_compat/hosts: its sysfs PCI devices and /proc),
    proc (text of /proc/driver/nvidia/version or None, over the host's), libraries (fake CDLLs),
    bins ({name: path}), commands ({basename: (rc, stdout, stderr)}), toolkit (files of the
    toolkit folder: {relative path: text}).
    """
    def run(args, *, proc=None, libraries=(), bins=None, commands=None, toolkit=None,
            library_dirs=(), host=None):
        root = tmp_path / "host"
        if root.exists():
            shutil.rmtree(root)
        root.mkdir()
        if host is not None:
            materialise_host(host, root)
        proc_path = root / "proc" / "driver" / "nvidia" / "version"
        if proc is not None:
            proc_path.parent.mkdir(parents=True, exist_ok=True)
            proc_path.write_text(proc)
        monkeypatch.setattr(cuda_probe, "PROC_VERSION_PATH", str(proc_path))
        monkeypatch.setattr(cuda_probe, "SYSFS_PCI_DEVICES", str(root / "sys/bus/pci/devices"))
        monkeypatch.setattr(cuda_probe, "PROC_NVSWITCH_DEVICES", str(root / "proc/driver/nvidia-nvswitch/devices"))
        monkeypatch.setattr(cuda_probe, "PROC_ROOT", str(root / "proc"))
        monkeypatch.setattr(cuda_probe, "_default_loader", loader_for(*libraries))
        monkeypatch.setattr(cuda_probe, "_loaded_path", lambda fragment: None)
        monkeypatch.setattr(cuda_probe, "LIBRARY_DIRS", tuple(library_dirs))

        toolkit_dir = tmp_path / "cuda"
        if toolkit is not None:
            for relative, text in toolkit.items():
                target = toolkit_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        args = dict(args)
        args.setdefault("toolkit_path", str(toolkit_dir))

        bins = dict(bins or {})
        commands = dict(commands or {})
        ran = []

        def get_bin_path(self, name, required=False, opt_dirs=None):
            return bins.get(name)

        def run_command(self, argv, **kwargs):
            ran.append(list(argv))
            key = Path(argv[0]).name
            if key not in commands:
                raise AssertionError(f"unexpected command {argv!r}")
            answer = commands[key]
            return answer(argv) if callable(answer) else answer

        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
        done = run_main(module_file, args)
        return ModuleRun(done.result, done.failed, done.warnings, ran)

    return run


@pytest.fixture
def fakes():
    """The helpers above, for tests (conftest modules are not imported by name)."""
    return SimpleNamespace(
        text=fixture_text, json=fixture_json, FakeLibrary=FakeLibrary,
        nvml_library=nvml_library, nvml_from_recording=nvml_from_recording,
        libcuda_library=libcuda_library, loader_for=loader_for, fixtures=FIXTURES,
        materialise_host=materialise_host,
    )


# --- signing_key: real OpenPGP keys made by gpg ---------------------------------------------


class GpgKey:
    """One key as gpg exports it: ``armored`` and ``binary`` (bytes), ``secret`` (armoured secret
    key), and what gpg reads from it: ``fingerprint`` (primary) and ``subkeys`` (fingerprints)."""

    def __init__(self, gpg, uid):
        self.uid = uid
        self.armored = gpg("--armor", "--export", uid)
        self.binary = gpg("--export", uid)
        self.secret = gpg("--armor", "--pinentry-mode", "loopback", "--passphrase", "",
                          "--export-secret-keys", uid)
        (self.fingerprint, self.subkeys), = gpg_listing(gpg, self.armored)


def gpg_listing(gpg, data):
    """[(primary fingerprint, [subkey fingerprints])] as ``gpg --with-colons --show-keys`` reads
    ``data``."""
    keys, last = [], None
    for line in gpg("--with-colons", "--show-keys", stdin=data).decode().splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sub"):
            last = fields[0]
        elif fields[0] == "fpr" and last == "pub":
            keys.append((fields[9], []))
        elif fields[0] == "fpr" and last == "sub":
            keys[-1][1].append(fields[9])
        if fields[0] == "fpr":
            last = None
    return keys


@pytest.fixture(scope="session")
def gpg_keys(tmp_path_factory):
    """Keys made for this test run: ``rsa`` (rsa2048, no subkey), ``ed25519`` (with a cv25519
    encryption subkey and an ed25519 signing subkey), ``other`` (ed25519, the key a mirror should
    not serve); ``gpg(*args, stdin=None)`` runs gpg on their GNUPGHOME, ``listing(data)`` is what
    gpg reads from data (``gpg_listing``)."""
    if not shutil.which("gpg"):
        pytest.skip("gpg is needed to make the test keys")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)

    def gpg(*args, stdin=None):
        return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--quiet", *args], input=stdin,
                              capture_output=True, check=True).stdout

    def make(uid, algorithm, *subkeys):
        gpg("--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", uid, algorithm, "sign", "never")
        primary = gpg("--with-colons", "--list-keys", uid).decode().split("fpr:::::::::")[1].split(":")[0]
        for sub_algorithm, usage in subkeys:
            gpg("--pinentry-mode", "loopback", "--passphrase", "", "--quick-add-key", primary, sub_algorithm,
                usage, "never")
        return GpgKey(gpg, uid)

    try:
        keys = SimpleNamespace(
            gpg=gpg,
            listing=lambda data: gpg_listing(gpg, data),
            rsa=make("hpcdl test RSA <rsa@test.invalid>", "rsa2048"),
            ed25519=make("hpcdl test Ed25519 <ed25519@test.invalid>", "ed25519",
                         ("cv25519", "encr"), ("ed25519", "sign")),
            other=make("Not the pinned key <other@test.invalid>", "ed25519"),
        )
        yield keys
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False)


@pytest.fixture
def run_offline(run_main, monkeypatch):
    """run_offline(module_file, args, check_mode=False) -> Done, with no proxy in the environment: the
    modules that download are tested against loopback servers only."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)

    def call(module_file, args, check_mode=False):
        if check_mode:
            args = dict(args, _ansible_check_mode=True)
        return run_main(module_file, args)
    return call

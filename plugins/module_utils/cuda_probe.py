# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers for what a host says about its NVIDIA driver, CUDA toolkit and container images.

The parsers (``parse_*``) are pure functions over recorded text. The probes (``probe_*``,
``read_*``) touch the host; each returns what it found plus the problems it met, and never
raises for a missing or broken source: the caller turns problems into ``module.warn``.
Standard library only (Python 2.7 and 3.6+).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import glob
import json
import os
import re

PROC_VERSION_PATH = '/proc/driver/nvidia/version'
# What the GPU and NVSwitch probes read (tests point these at recorded trees).
SYSFS_PCI_DEVICES = '/sys/bus/pci/devices'
PROC_NVSWITCH_DEVICES = '/proc/driver/nvidia-nvswitch/devices'
PROC_ROOT = '/proc'
FABRIC_MANAGER_PROCESS = 'nv-fabricmanager'
NVML_LIBRARY = 'libnvidia-ml.so.1'
CUDA_LIBRARY = 'libcuda.so.1'
# Where distributions and NVIDIA's installer put the driver's libraries.
LIBRARY_DIRS = (
    '/usr/lib64',
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/x86_64-linux-gnu/nvidia/current',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu/nvidia/current',
    '/usr/lib64/nvidia',
    '/usr/lib/nvidia',
    '/usr/lib',
    '/lib64',
    '/lib/x86_64-linux-gnu',
)
# nvidia-smi outside PATH: Debian's package keeps the binary here.
NVIDIA_SMI_DIRS = ['/usr/bin', '/usr/lib/nvidia/current', '/opt/nvidia/bin']

# nvmlReturn_t, from NVIDIA's nvml.h.
NVML_RETURN_NAMES = {
    0: 'NVML_SUCCESS',
    1: 'NVML_ERROR_UNINITIALIZED',
    2: 'NVML_ERROR_INVALID_ARGUMENT',
    3: 'NVML_ERROR_NOT_SUPPORTED',
    4: 'NVML_ERROR_NO_PERMISSION',
    5: 'NVML_ERROR_ALREADY_INITIALIZED',
    6: 'NVML_ERROR_NOT_FOUND',
    7: 'NVML_ERROR_INSUFFICIENT_SIZE',
    8: 'NVML_ERROR_INSUFFICIENT_POWER',
    9: 'NVML_ERROR_DRIVER_NOT_LOADED',
    10: 'NVML_ERROR_TIMEOUT',
    11: 'NVML_ERROR_IRQ_ISSUE',
    12: 'NVML_ERROR_LIBRARY_NOT_FOUND',
    13: 'NVML_ERROR_FUNCTION_NOT_FOUND',
    14: 'NVML_ERROR_CORRUPTED_INFOROM',
    15: 'NVML_ERROR_GPU_IS_LOST',
    16: 'NVML_ERROR_RESET_REQUIRED',
    17: 'NVML_ERROR_OPERATING_SYSTEM',
    18: 'NVML_ERROR_LIB_RM_VERSION_MISMATCH',
    19: 'NVML_ERROR_IN_USE',
    20: 'NVML_ERROR_MEMORY',
    21: 'NVML_ERROR_NO_DATA',
    22: 'NVML_ERROR_VGPU_ECC_NOT_SUPPORTED',
    23: 'NVML_ERROR_INSUFFICIENT_RESOURCES',
    24: 'NVML_ERROR_FREQ_NOT_SUPPORTED',
    25: 'NVML_ERROR_ARGUMENT_VERSION_MISMATCH',
    26: 'NVML_ERROR_DEPRECATED',
    27: 'NVML_ERROR_NOT_READY',
    28: 'NVML_ERROR_GPU_NOT_FOUND',
    999: 'NVML_ERROR_UNKNOWN',
}
NVML_SUCCESS = 0
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18

_BUFFER_SIZE = 80  # NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE and NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE

_PROC_RE = re.compile(
    r'NVRM version:\s+NVIDIA UNIX\s+'
    r'(?:(?P<open>Open) Kernel Module for (?P<arch_open>\S+)|(?P<arch>\S+) Kernel Module)'
    r'\s+(?P<version>\d+\.\d+(?:\.\d+)?)')
_SMI_DRIVER_RE = re.compile(r'Driver Version:\s*(\d+\.\d+(?:\.\d+)?)')
_SMI_CUDA_RE = re.compile(r'CUDA Version:\s*(\d+\.\d+)')
_SMI_LIBRARY_RE = re.compile(r'NVML library version:\s*(\d+\.\d+(?:\.\d+)?)')
_NVCC_RELEASE_RE = re.compile(r'release (\d+\.\d+), V(\d+\.\d+(?:\.\d+)?)')
_NVCC_RELEASE_ONLY_RE = re.compile(r'release (\d+\.\d+)')
_VERSION_TXT_RE = re.compile(r'CUDA Version\s+(\d+\.\d+(?:\.\d+)?)')
_LIB_FILE_RE = re.compile(r'\.so\.(\d+\.\d+(?:\.\d+)?)$')
_NVML_VERSION_RE = re.compile(r'^(?:\d{1,2}\.)?(\d{3,}\.\d+(?:\.\d+)?)$')
_LDCONFIG_RE = re.compile(r'^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$')
_REQUIRE_RE = re.compile(r'^([a-z]+)\s*(>=|<=|==|!=|=|>|<)\s*(\S+)$')
_HEX_RE = re.compile(r'^\s*(0x)?([0-9a-fA-F]+)\s*$')
_FM_VERSION_RE = re.compile(r'(\d{3}\.\d+(?:\.\d+)?)')
_MODINFO_LICENSES = {'Dual MIT/GPL': 'open', 'NVIDIA': 'proprietary'}


# --------------------------------------------------------------------------------------------
# Parsers over recorded text


def parse_proc_version(text):
    """Parse /proc/driver/nvidia/version: {'version', 'open', 'arch'} or None."""
    match = _PROC_RE.search(text or '')
    if not match:
        return None
    return {
        'version': match.group('version'),
        'open': bool(match.group('open')),
        'arch': match.group('arch_open') or match.group('arch'),
    }


def parse_nvidia_smi(output, rc=0):
    """Parse the plain ``nvidia-smi`` output (stdout and stderr together).

    Returns {'driver_version', 'cuda_version', 'library_version', 'state'} where state is one
    of ``ok``, ``mismatch``, ``not_loaded``, ``no_library``, ``error``.
    """
    output = output or ''
    result = {'driver_version': None, 'cuda_version': None, 'library_version': None,
              'state': 'error', 'first_line': ''}
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if lines:
        result['first_line'] = lines[0]
    if 'Driver/library version mismatch' in output:
        result['state'] = 'mismatch'
        match = _SMI_LIBRARY_RE.search(output)
        if match:
            result['library_version'] = match.group(1)
        return result
    if "couldn't communicate with the NVIDIA driver" in output:
        result['state'] = 'not_loaded'
        return result
    if "couldn't find libnvidia-ml.so" in output:
        result['state'] = 'no_library'
        return result
    match = _SMI_DRIVER_RE.search(output)
    if match:
        result['driver_version'] = match.group(1)
        cuda = _SMI_CUDA_RE.search(output)
        if cuda:
            result['cuda_version'] = cuda.group(1)
        result['state'] = 'ok' if rc == 0 else 'error'
    return result


def parse_nvcc(text):
    """Parse ``nvcc --version``: ``'8.0.61'`` from ``release 8.0, V8.0.61``; None if absent."""
    match = _NVCC_RELEASE_RE.search(text or '')
    if match:
        return match.group(2)
    match = _NVCC_RELEASE_ONLY_RE.search(text or '')
    return match.group(1) if match else None


def parse_version_txt(text):
    """Parse version.txt of CUDA 10.2 and older (``CUDA Version 8.0.61``)."""
    match = _VERSION_TXT_RE.search(text or '')
    return match.group(1) if match else None


def parse_version_json(text):
    """Parse version.json of CUDA 11 and newer.

    The runtime's (``cuda_cudart``) or the compiler's (``cuda_nvcc``) version is preferred: the
    top-level ``cuda`` version can be date-stamped (``12.2.20230823``). That one is cut to
    major.minor when it is the only one.
    """
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError('version.json is not a JSON object')
    for component in ('cuda_cudart', 'cuda_nvcc'):
        version = (data.get(component) or {}).get('version')
        if version:
            return version
    version = (data.get('cuda') or {}).get('version')
    if not version:
        return None
    parts = version.split('.')
    if len(parts) > 2 and len(parts[2]) == 8 and parts[2].startswith('20'):
        return '.'.join(parts[:2])
    return version


def parse_ldconfig(text, soname):
    """Paths that ``ldconfig -p`` lists for ``soname``, 64-bit entries first."""
    first, rest = [], []
    for line in (text or '').splitlines():
        match = _LDCONFIG_RE.match(line)
        if not match or match.group(1) != soname:
            continue
        if '64' in match.group(2) or 'AArch64' in match.group(2):
            first.append(match.group(3))
        else:
            rest.append(match.group(3))
    return first + rest


def library_version_from_path(path):
    """``/usr/lib64/libnvidia-ml.so.535.261.03`` -> ``535.261.03``; None for ``.so.1``."""
    match = _LIB_FILE_RE.search(os.path.basename(path or ''))
    return match.group(1) if match else None


def driver_from_nvml_version(text):
    """NVML prints its version as ``12.535.261.03`` (CUDA major, then the driver)."""
    match = _NVML_VERSION_RE.match((text or '').strip())
    return match.group(1) if match else None


def parse_require_cuda(expression):
    """Parse NVIDIA_REQUIRE_CUDA as nvidia-container-toolkit reads it.

    Space-separated constraints are OR, comma-separated ones AND. Returns a list of clauses,
    each a list of (key, operator, value). Raises ValueError on a constraint it cannot read.
    """
    clauses = []
    for clause in (expression or '').split():
        constraints = []
        for constraint in clause.split(','):
            if not constraint:
                continue
            match = _REQUIRE_RE.match(constraint.strip())
            if not match:
                raise ValueError('cannot read the constraint %r' % constraint)
            constraints.append(match.groups())
        if constraints:
            clauses.append(constraints)
    return clauses


def required_cuda_from_clauses(clauses):
    """The CUDA version a parsed NVIDIA_REQUIRE_CUDA asks of the driver (the weakest ``cuda>=``).

    Clauses without a ``cuda`` constraint (``brand=tesla,driver>=470,driver<471``) accept older
    drivers on some GPU brands only through a forward-compatibility package inside the image;
    they do not lower the requirement this module judges.
    """
    found = []
    for clause in clauses:
        for key, operator, value in clause:
            if key == 'cuda' and operator in ('>=', '=', '==', '>'):
                found.append(value)
    if not found:
        return None

    def _key(version):
        return tuple(int(part) for part in re.findall(r'\d+', version))
    return sorted(found, key=_key)[0]


def requirement_from_image(inspect_output):
    """What CUDA an image needs, from ``docker image inspect`` / ``podman image inspect`` JSON.

    Order: NVIDIA_REQUIRE_CUDA, then CUDA_VERSION, then the nvidia-docker 1.0 label
    com.nvidia.cuda.version. Returns {'cuda', 'source', 'expression', 'disabled'} or None.
    """
    data = json.loads(inspect_output)
    if isinstance(data, list):
        if not data:
            return None
        data = data[0]
    config = data.get('Config') or {}
    env = {}
    for item in config.get('Env') or []:
        name, _sep, value = item.partition('=')
        env[name] = value
    labels = dict(data.get('Labels') or {})
    labels.update(config.get('Labels') or {})
    disabled = env.get('NVIDIA_DISABLE_REQUIRE', '').lower() in ('1', 'true', 'yes')
    expression = env.get('NVIDIA_REQUIRE_CUDA', '').strip()
    if expression:
        cuda = required_cuda_from_clauses(parse_require_cuda(expression))
        if cuda:
            return {'cuda': cuda, 'source': 'NVIDIA_REQUIRE_CUDA', 'expression': expression,
                    'disabled': disabled}
    if env.get('CUDA_VERSION', '').strip():
        return {'cuda': env['CUDA_VERSION'].strip(), 'source': 'CUDA_VERSION',
                'expression': expression or None, 'disabled': disabled}
    label = (labels.get('com.nvidia.cuda.version') or '').strip()
    if label:
        return {'cuda': label, 'source': 'com.nvidia.cuda.version', 'expression': None,
                'disabled': disabled}
    return None


def parse_hex(text):
    """``0x10de\\n`` (a sysfs attribute) -> 4318; None when it is not hexadecimal."""
    match = _HEX_RE.match(text or '')
    return int(match.group(2), 16) if match else None


def parse_fabric_manager_version(text):
    """The version ``nv-fabricmanager --version`` prints (``Fabric Manager version is :
    535.104.05``); None if it names none."""
    match = _FM_VERSION_RE.search(text or '')
    return match.group(1) if match else None


def parse_modinfo(text):
    """``modinfo nvidia`` of the module on disk: {'version', 'flavour'}.

    The flavour comes from its license line: ``Dual MIT/GPL`` is NVIDIA's open kernel module,
    ``NVIDIA`` the proprietary one (the MODULE_LICENSE of each); None for anything else.
    """
    fields = {}
    for line in (text or '').splitlines():
        key, sep, value = line.partition(':')
        if sep and key.strip() in ('license', 'version') and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    version = fields.get('version')
    if version and not re.match(r'^\d+\.\d+(\.\d+)?$', version):
        version = None
    return {'version': version, 'flavour': _MODINFO_LICENSES.get(fields.get('license'))}


def normalise_bus_id(bus_id):
    """NVML's ``00000000:17:00.0`` and sysfs's ``0000:17:00.0`` -> ``0000:17:00.0``."""
    bus_id = (bus_id or '').strip().lower()
    domain, sep, rest = bus_id.partition(':')
    if not sep:
        return bus_id
    return '%04x:%s' % (int(domain, 16), rest) if re.match(r'^[0-9a-f]+$', domain) else bus_id


# --------------------------------------------------------------------------------------------
# Probes (host access)


def read_pci_devices(root=None):
    """NVIDIA's PCI functions under /sys/bus/pci/devices (no driver needed).

    Returns (devices, problems): each device {'address', 'device_id', 'class'} for vendor 0x10de.
    """
    root = root or SYSFS_PCI_DEVICES
    devices, problems = [], []
    try:
        names = sorted(os.listdir(root))
    except (IOError, OSError) as exc:
        if getattr(exc, 'errno', None) == 2:
            return devices, problems
        return devices, ['cannot list %s: %s' % (root, exc)]
    for name in names:
        values = {}
        for attribute in ('vendor', 'device', 'class'):
            text, problem = read_text(os.path.join(root, name, attribute))
            if problem:
                problems.append(problem)
            values[attribute] = parse_hex(text)
        if values['vendor'] != 0x10de or values['device'] is None or values['class'] is None:
            continue
        devices.append({'address': name, 'device_id': values['device'],
                        'class': values['class']})
    return devices, problems


def read_nvswitch_proc(path=None):
    """The NVSwitch entries the loaded driver lists (/proc/driver/nvidia-nvswitch/devices/*);
    None when the folder is absent (no nvswitch driver loaded)."""
    path = path or PROC_NVSWITCH_DEVICES
    try:
        return sorted(os.listdir(path))
    except (IOError, OSError):
        return None


_COMM_LENGTH = 15  # TASK_COMM_LEN - 1: the kernel keeps 15 characters of a process name in comm


def find_process(name, proc_root=None):
    """The pids of the processes named ``name`` (sorted).

    /proc/<pid>/comm holds at most 15 characters (``nv-fabricmanage`` for nv-fabricmanager), so
    a longer name is also looked for in /proc/<pid>/cmdline (the program, or the script a shell
    runs), where it is whole.
    """
    proc_root = proc_root or PROC_ROOT
    found = []
    try:
        entries = os.listdir(proc_root)
    except (IOError, OSError):
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        text, _problem = read_text(os.path.join(proc_root, entry, 'comm'))
        if text is None or text.strip() != name[:_COMM_LENGTH]:
            continue
        if len(name) > _COMM_LENGTH:
            cmdline, _problem = read_text(os.path.join(proc_root, entry, 'cmdline'))
            words = [os.path.basename(word) for word in (cmdline or '').split('\0')[:2]]
            if cmdline is not None and name not in words:
                continue
        found.append(int(entry))
    return sorted(found)


def _default_loader(name):
    """Load a shared library the way the probes do; unit tests replace this function."""
    return ctypes.CDLL(name)


def _nvml_name(code):
    return NVML_RETURN_NAMES.get(code, 'NVML error %s' % code)


def _read_string(function, size=_BUFFER_SIZE):
    buf = ctypes.create_string_buffer(size)
    code = function(buf, ctypes.c_uint(size))
    value = buf.value
    if isinstance(value, bytes):
        value = value.decode('ascii', 'replace')
    return code, value


def _symbol(library, *names):
    for name in names:
        try:
            return getattr(library, name)
        except AttributeError:
            continue
    return None


def _loaded_path(fragment):
    """The file the dynamic loader mapped for a library, from /proc/self/maps."""
    try:
        with open('/proc/self/maps') as maps:
            for line in maps:
                path = line.split()[-1] if line.split() else ''
                if fragment in os.path.basename(path):
                    return path
    except (IOError, OSError):
        return None
    return None


class _PciInfo(ctypes.Structure):
    """nvmlPciInfo_t (nvml.h; nvmlDeviceGetPciInfo_v3)."""
    _fields_ = [
        ('busIdLegacy', ctypes.c_char * 16),
        ('domain', ctypes.c_uint),
        ('bus', ctypes.c_uint),
        ('device', ctypes.c_uint),
        ('pciDeviceId', ctypes.c_uint),
        ('pciSubSystemId', ctypes.c_uint),
        ('busId', ctypes.c_char * 32),
    ]


_NAME_BUFFER_SIZE = 96  # NVML_DEVICE_NAME_V2_BUFFER_SIZE


def _text(value):
    return value.decode('ascii', 'replace') if isinstance(value, bytes) else value


def _nvml_devices(library, problems):
    """Each GPU NVML sees: {'index', 'bus_id', 'device_id', 'name', 'compute_capability'}
    (after nvmlInit)."""
    get_count = _symbol(library, 'nvmlDeviceGetCount_v2', 'nvmlDeviceGetCount')
    get_handle = _symbol(library, 'nvmlDeviceGetHandleByIndex_v2', 'nvmlDeviceGetHandleByIndex')
    if get_count is None or get_handle is None:
        return []
    count = ctypes.c_uint(0)
    code = get_count(ctypes.byref(count))
    if code != NVML_SUCCESS:
        problems.append('nvmlDeviceGetCount returned %s' % _nvml_name(code))
        return []
    get_name = _symbol(library, 'nvmlDeviceGetName')
    get_capability = _symbol(library, 'nvmlDeviceGetCudaComputeCapability')
    get_pci = _symbol(library, 'nvmlDeviceGetPciInfo_v3', 'nvmlDeviceGetPciInfo_v2')
    devices = []
    for index in range(count.value):
        handle = ctypes.c_void_p()
        code = get_handle(ctypes.c_uint(index), ctypes.byref(handle))
        if code != NVML_SUCCESS:
            problems.append('nvmlDeviceGetHandleByIndex(%d) returned %s' % (index, _nvml_name(code)))
            continue
        device = {'index': index, 'bus_id': None, 'device_id': None, 'name': None,
                  'compute_capability': None}
        if get_pci is not None:
            info = _PciInfo()
            if get_pci(handle, ctypes.byref(info)) == NVML_SUCCESS:
                device['bus_id'] = normalise_bus_id(_text(info.busId))
                device['device_id'] = info.pciDeviceId >> 16  # (device << 16) | vendor
        if get_name is not None:
            buf = ctypes.create_string_buffer(_NAME_BUFFER_SIZE)
            if get_name(handle, buf, ctypes.c_uint(_NAME_BUFFER_SIZE)) == NVML_SUCCESS:
                device['name'] = _text(buf.value)
        if get_capability is not None:
            major, minor = ctypes.c_int(0), ctypes.c_int(0)
            if get_capability(handle, ctypes.byref(major), ctypes.byref(minor)) == NVML_SUCCESS:
                device['compute_capability'] = '%d.%d' % (major.value, minor.value)
        devices.append(device)
    return devices


def probe_nvml(loader=None):
    """Ask libnvidia-ml (NVML) through ctypes.

    Returns {'loaded', 'path', 'init', 'init_name', 'driver_version', 'library_version',
    'cuda_version', 'devices', 'problems'} (``devices``: the PCI bus id, name and compute
    capability of each GPU, once NVML starts); ``init`` is the nvmlReturn_t of nvmlInit_v2 (None when the
    library could not be loaded).
    """
    loader = loader or _default_loader
    result = {'loaded': False, 'path': None, 'init': None, 'init_name': None,
              'driver_version': None, 'library_version': None, 'cuda_version': None,
              'devices': [], 'problems': []}
    try:
        library = loader(NVML_LIBRARY)
    except OSError as exc:
        result['init'] = NVML_ERROR_LIBRARY_NOT_FOUND
        result['init_name'] = _nvml_name(NVML_ERROR_LIBRARY_NOT_FOUND)
        result['load_error'] = str(exc)
        return result
    result['loaded'] = True
    result['path'] = getattr(library, '_name', None)
    mapped = _loaded_path('libnvidia-ml.so')
    if mapped:
        result['path'] = mapped

    get_nvml_version = _symbol(library, 'nvmlSystemGetNVMLVersion')
    if get_nvml_version is not None:
        code, value = _read_string(get_nvml_version)
        if code == NVML_SUCCESS:
            result['library_version'] = driver_from_nvml_version(value)

    init = _symbol(library, 'nvmlInit_v2', 'nvmlInit')
    if init is None:
        result['problems'].append('%s has neither nvmlInit_v2 nor nvmlInit' % NVML_LIBRARY)
        return result
    code = init()
    result['init'] = code
    result['init_name'] = _nvml_name(code)
    if code != NVML_SUCCESS:
        return result
    try:
        get_driver = _symbol(library, 'nvmlSystemGetDriverVersion')
        if get_driver is not None:
            code, value = _read_string(get_driver)
            if code == NVML_SUCCESS and value:
                result['driver_version'] = value
            else:
                result['problems'].append(
                    'nvmlSystemGetDriverVersion returned %s' % _nvml_name(code))
        get_cuda = _symbol(library, 'nvmlSystemGetCudaDriverVersion_v2',
                           'nvmlSystemGetCudaDriverVersion')
        if get_cuda is not None:
            value = ctypes.c_int(0)
            code = get_cuda(ctypes.byref(value))
            if code == NVML_SUCCESS and value.value > 0:
                result['cuda_version'] = '%d.%d' % (value.value // 1000,
                                                    (value.value % 1000) // 10)
            else:
                result['problems'].append(
                    'nvmlSystemGetCudaDriverVersion returned %s' % _nvml_name(code))
        result['devices'] = _nvml_devices(library, result['problems'])
    finally:
        shutdown = _symbol(library, 'nvmlShutdown')
        if shutdown is not None:
            shutdown()
    return result


def probe_libcuda(loader=None):
    """Ask libcuda through ctypes: cuDriverGetVersion (needs no GPU, nor cuInit).

    Returns {'loaded', 'cuda_version', 'problems'}.
    """
    loader = loader or _default_loader
    result = {'loaded': False, 'cuda_version': None, 'problems': []}
    try:
        library = loader(CUDA_LIBRARY)
    except OSError:
        return result
    result['loaded'] = True
    get_version = _symbol(library, 'cuDriverGetVersion')
    if get_version is not None:
        value = ctypes.c_int(0)
        code = get_version(ctypes.byref(value))
        if code == 0 and value.value > 0:
            result['cuda_version'] = '%d.%d' % (value.value // 1000, (value.value % 1000) // 10)
        else:
            result['problems'].append('cuDriverGetVersion returned CUresult %s' % code)
    return result


def library_file_version(ldconfig_output=None, nvml_path=None, library_dirs=LIBRARY_DIRS):
    """The userspace driver version from libnvidia-ml's file name.

    Tries the file the loader mapped, the ldconfig cache, then the standard library folders,
    following links (``libnvidia-ml.so.1`` -> ``libnvidia-ml.so.535.261.03``).
    Returns (version, path) or (None, None).
    """
    candidates = []
    if nvml_path:
        candidates.append(nvml_path)
    candidates.extend(parse_ldconfig(ldconfig_output, NVML_LIBRARY))
    for folder in library_dirs:
        candidates.append(os.path.join(folder, NVML_LIBRARY))
    for path in candidates:
        if not path:
            continue
        for name in (path, os.path.realpath(path)):
            version = library_version_from_path(name)
            if version and (name == path or os.path.exists(name)):
                return version, name
    for folder in library_dirs:
        found = sorted(glob.glob(os.path.join(folder, 'libnvidia-ml.so.*.*')))
        for name in found:
            version = library_version_from_path(name)
            if version:
                return version, name
    return None, None


def read_text(path):
    """(text, problem): text None when the file is absent; problem set when it is unreadable."""
    try:
        with open(path) as handle:
            return handle.read(), None
    except (IOError, OSError) as exc:
        if getattr(exc, 'errno', None) == 2:
            return None, None
        return None, 'cannot read %s: %s' % (path, exc)


def read_toolkit(toolkit_path, run_nvcc):
    """Find the installed CUDA toolkit's version.

    ``run_nvcc(path)`` runs ``path --version`` (``None``: the nvcc found on PATH) and returns
    (text or None, the nvcc it ran or None). Returns {'version', 'path', 'source', 'problems'}.
    """
    result = {'version': None, 'path': None, 'source': None, 'problems': []}
    if toolkit_path and os.path.exists(toolkit_path):
        result['path'] = os.path.realpath(toolkit_path)
        text, problem = read_text(os.path.join(toolkit_path, 'version.json'))
        if problem:
            result['problems'].append(problem)
        if text is not None:
            try:
                version = parse_version_json(text)
            except ValueError as exc:
                version = None
                result['problems'].append('cannot parse %s/version.json: %s' % (toolkit_path, exc))
            if version:
                result.update(version=version, source='version.json')
                return result
        text, problem = read_text(os.path.join(toolkit_path, 'version.txt'))
        if problem:
            result['problems'].append(problem)
        version = parse_version_txt(text) if text else None
        if version:
            result.update(version=version, source='version.txt')
            return result
    nvcc = os.path.join(toolkit_path, 'bin', 'nvcc') if toolkit_path else None
    candidates = [nvcc] if nvcc and os.path.exists(nvcc) else []
    candidates.append(None)  # the caller looks nvcc up on PATH
    for candidate in candidates:
        text, used = run_nvcc(candidate)
        version = parse_nvcc(text) if text else None
        if version:
            result.update(version=version, source='nvcc')
            if result['path'] is None and used:
                result['path'] = os.path.dirname(os.path.dirname(os.path.realpath(used)))
            return result
    return result

# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic of the ``hpcdl.gpu.cuda_compat`` module: gather driver facts, resolve the requirement,
judge it against NVIDIA's tables, and say what to do.

Standard library only (Python 2.7 and 3.6+).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hpcdl.gpu.plugins.module_utils import cuda_gpus as gpus_table
from ansible_collections.hpcdl.gpu.plugins.module_utils import cuda_probe as probe
from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_table import (
    CudaVersionError,
    driver_at_least,
    driver_key,
    find_release,
    max_cuda,
    minor_version_floor,
    RELEASES,
)

ARGUMENT_SPEC = dict(
    cuda_version=dict(type='str'),
    image=dict(type='str'),
    driver_version=dict(type='str'),
    fail_on_incompatible=dict(type='bool', default=True),
    toolkit_path=dict(type='path', default='/usr/local/cuda'),
    container_engine=dict(type='str', default='auto', choices=['auto', 'docker', 'podman']),
    kernel_module=dict(type='str', choices=['open', 'proprietary']),
    gpu_device_ids=dict(type='list', elements='str'),
)

RELOAD_COMMANDS = 'rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia; modprobe nvidia'


class RequirementError(Exception):
    """The requirement could not be read (bad version, missing engine or image)."""


# --------------------------------------------------------------------------------------------
# Facts from the host


def _run(module, args):
    """run_command with a C locale; returns (rc, stdout + stderr)."""
    rc, out, err = module.run_command(
        args, environ_update={'LC_ALL': 'C', 'LANG': 'C'}, check_rc=False)
    return rc, (out or '') + (err or '')


def _versions_differ(first, second):
    """Compare driver versions on the parts both have (nvidia-smi shortens 535.104.05 to 535.104)."""
    a, b = driver_key(first), driver_key(second)
    common = min(len(a), len(b))
    return a[:common] != b[:common]


def gather_host_facts(module, nvml_loader=None, cuda_loader=None):
    """Read the driver, the userspace library and the toolkit; warn about each broken source."""
    facts = {
        'driver_version': None, 'driver_loaded': None, 'library_version': None,
        'library_mismatch': False, 'cuda_driver_version': None,
        'kernel_module': None, 'sources': {},
    }

    # 1. The loaded kernel module.
    text, problem = probe.read_text(probe.PROC_VERSION_PATH)
    if problem:
        module.warn(problem)
    proc = probe.parse_proc_version(text) if text else None
    if text is not None and proc is None:
        module.warn('%s does not name a driver version: %r' % (
            probe.PROC_VERSION_PATH, text.strip()[:200]))
    if proc:
        facts['kernel_module'] = 'open' if proc['open'] else 'proprietary'
        facts['sources']['driver_version'] = probe.PROC_VERSION_PATH

    # 2. NVML, then libcuda.
    nvml = {'loaded': False, 'init': None, 'init_name': None, 'driver_version': None,
            'library_version': None, 'cuda_version': None, 'path': None, 'problems': []}
    try:
        nvml = probe.probe_nvml(nvml_loader)
    except Exception as exc:  # a broken library must not crash the module
        module.warn('Querying %s failed: %s' % (probe.NVML_LIBRARY, exc))
    for item in nvml['problems']:
        module.warn(item)
    if nvml['init'] not in (None, probe.NVML_SUCCESS, probe.NVML_ERROR_DRIVER_NOT_LOADED,
                            probe.NVML_ERROR_LIB_RM_VERSION_MISMATCH,
                            probe.NVML_ERROR_LIBRARY_NOT_FOUND):
        module.warn('NVML initialisation failed with %s.' % nvml['init_name'])

    libcuda = {'loaded': False, 'cuda_version': None, 'problems': []}
    try:
        libcuda = probe.probe_libcuda(cuda_loader)
    except Exception as exc:
        module.warn('Querying %s failed: %s' % (probe.CUDA_LIBRARY, exc))
    for item in libcuda['problems']:
        module.warn(item)

    # 3. nvidia-smi, when NVML could not answer.
    smi = None
    if nvml['init'] != probe.NVML_SUCCESS or not nvml['driver_version']:
        smi_path = module.get_bin_path('nvidia-smi', opt_dirs=probe.NVIDIA_SMI_DIRS)
        if smi_path:
            rc, output = _run(module, [smi_path])
            smi = probe.parse_nvidia_smi(output, rc)
            if smi['state'] == 'error':
                module.warn('nvidia-smi failed (rc=%s): %s' % (rc, smi['first_line'] or output[:200]))

    # 4. The userspace library's own version.
    library_version = nvml['library_version']
    if library_version:
        facts['sources']['library_version'] = 'nvmlSystemGetNVMLVersion'
    elif nvml['driver_version']:
        library_version = nvml['driver_version']
        facts['sources']['library_version'] = 'nvmlSystemGetDriverVersion'
    if not library_version:
        ldconfig_output = None
        ldconfig = module.get_bin_path('ldconfig', opt_dirs=['/sbin', '/usr/sbin'])
        if ldconfig:
            rc, ldconfig_output = _run(module, [ldconfig, '-p'])
            if rc != 0:
                ldconfig_output = None
        version, path = probe.library_file_version(
            ldconfig_output, nvml.get('path'), probe.LIBRARY_DIRS)
        if version:
            library_version = version
            facts['sources']['library_version'] = path
    if not library_version and smi and smi['library_version']:
        library_version = smi['library_version']
        facts['sources']['library_version'] = 'nvidia-smi'
    facts['library_version'] = library_version

    # Driver version and state.
    driver = proc['version'] if proc else None
    if driver is None and nvml['init'] == probe.NVML_SUCCESS and nvml['driver_version']:
        driver = nvml['driver_version']
        facts['sources']['driver_version'] = 'nvmlSystemGetDriverVersion'
    if driver is None and smi and smi['state'] == 'ok':
        driver = smi['driver_version']
        facts['sources']['driver_version'] = 'nvidia-smi'
    facts['driver_version'] = driver

    mismatch = (nvml['init'] == probe.NVML_ERROR_LIB_RM_VERSION_MISMATCH
                or (smi is not None and smi['state'] == 'mismatch'))
    if driver and library_version and _versions_differ(driver, library_version):
        mismatch = True
    facts['library_mismatch'] = bool(mismatch)
    facts['nvml_devices'] = nvml.get('devices') or []

    if proc or driver or mismatch or nvml['init'] == probe.NVML_SUCCESS:
        facts['driver_loaded'] = True
    elif (nvml['init'] == probe.NVML_ERROR_DRIVER_NOT_LOADED
          or (smi is not None and smi['state'] in ('not_loaded', 'no_library'))
          or (not nvml['loaded'] and not libcuda['loaded'] and smi is None)):
        facts['driver_loaded'] = False

    # Newest CUDA the loaded driver runs.
    if not mismatch:
        for value, source in ((nvml['cuda_version'], 'nvmlSystemGetCudaDriverVersion'),
                              (smi and smi['cuda_version'], 'nvidia-smi'),
                              (libcuda['cuda_version'] if facts['driver_loaded'] else None,
                               'cuDriverGetVersion')):
            if value:
                facts['cuda_driver_version'] = value
                facts['sources']['cuda_driver_version'] = source
                break
    return facts


def _device_ids(values):
    """``['0x17fd', '2335']`` -> [0x17fd, 0x2335]; raise ValueError on one that is no id."""
    ids = []
    for value in values or []:
        number = probe.parse_hex(str(value))
        if number is None or number > 0xffff:
            raise ValueError(
                'gpu_device_ids: %r is not a PCI device id: give the 4 hex digits lspci -nn '
                'shows after 10de: (0x17fd for a Tesla M40, 0x2335 for an H200).' % (value,))
        ids.append(number)
    return ids


def _gpu_entry(address, device_id, source):
    entry = {'pci_address': address, 'device_id': device_id, 'source': source,
             'name': gpus_table.PRODUCT_NAMES.get(device_id), 'chip': None,
             'architecture': None, 'compute_capability': None}
    found = gpus_table.chip_for_device(device_id)
    if found:
        entry.update(found)
    return entry


def gather_gpu_facts(module, nvml_devices=(), device_ids=None, with_fabric_manager=True):
    """The NVIDIA GPUs and NVSwitches of this host (or the planned ``device_ids``), and Fabric
    Manager's state where NVSwitches are present."""
    facts = {'gpus': [], 'nvswitch': {'present': False, 'count': 0, 'pci_addresses': [],
                                      'proc_devices': None},
             'fabric_manager': None}
    if device_ids is not None:
        facts['gpus'] = [_gpu_entry(None, number, 'gpu_device_ids') for number in device_ids]
        return facts

    devices, problems = probe.read_pci_devices()
    for problem in problems:
        module.warn(problem)
    by_bus = dict((d['bus_id'], d) for d in nvml_devices if d.get('bus_id'))
    for device in devices:
        if device['class'] >> 16 == gpus_table.DISPLAY_CLASS:
            entry = _gpu_entry(device['address'], device['device_id'],
                               probe.SYSFS_PCI_DEVICES)
            nvml = by_bus.pop(probe.normalise_bus_id(device['address']), None)
            if nvml:
                entry['source'] = '%s and NVML' % probe.SYSFS_PCI_DEVICES
                entry['name'] = nvml.get('name') or entry['name']
                entry['compute_capability'] = (nvml.get('compute_capability')
                                               or entry['compute_capability'])
            facts['gpus'].append(entry)
        elif device['class'] == gpus_table.NVSWITCH_CLASS:
            facts['nvswitch']['pci_addresses'].append(device['address'])
    # GPUs NVML sees that sysfs does not show (a sandbox without /sys/bus/pci).
    for nvml in sorted(by_bus.values(), key=lambda d: d['index']):
        if nvml.get('device_id') is not None:
            entry = _gpu_entry(nvml['bus_id'], nvml['device_id'], 'NVML')
            entry['name'] = nvml.get('name') or entry['name']
            entry['compute_capability'] = nvml.get('compute_capability') or entry['compute_capability']
            facts['gpus'].append(entry)

    switch = facts['nvswitch']
    switch['proc_devices'] = probe.read_nvswitch_proc()
    switch['count'] = max(len(switch['pci_addresses']), len(switch['proc_devices'] or []))
    switch['present'] = switch['count'] > 0
    if switch['present'] and with_fabric_manager:
        facts['fabric_manager'] = gather_fabric_manager(module)
    return facts


def gather_fabric_manager(module):
    """Is nv-fabricmanager running (a process of that name in /proc), and which version is it."""
    state = {'running': bool(probe.find_process(probe.FABRIC_MANAGER_PROCESS)), 'version': None,
             'installed': False}
    path = module.get_bin_path(probe.FABRIC_MANAGER_PROCESS, opt_dirs=['/usr/bin', '/usr/sbin'])
    if path:
        state['installed'] = True
        rc, output = _run(module, [path, '--version'])
        state['version'] = probe.parse_fabric_manager_version(output)
        if not state['version']:
            module.warn('%s --version named no version (rc=%s): %s'
                        % (path, rc, output.strip()[:200]))
    return state


def gather_installed_module(module):
    """The NVIDIA kernel module on disk (modinfo nvidia): its version and flavour."""
    modinfo = module.get_bin_path('modinfo', opt_dirs=['/sbin', '/usr/sbin'])
    if not modinfo:
        return {'version': None, 'flavour': None}
    rc, output = _run(module, [modinfo, 'nvidia'])
    if rc != 0:
        return {'version': None, 'flavour': None}
    return probe.parse_modinfo(output)


def gather_toolkit(module, toolkit_path):
    """The installed toolkit: version.json, version.txt, then nvcc --version."""
    def run_nvcc(candidate):
        path = candidate or module.get_bin_path('nvcc')
        if not path:
            return None, None
        rc, output = _run(module, [path, '--version'])
        if rc != 0:
            module.warn('%s --version failed (rc=%s): %s' % (path, rc, output.strip()[:200]))
            return None, path
        return output, path

    toolkit = probe.read_toolkit(toolkit_path, run_nvcc)
    for item in toolkit['problems']:
        module.warn(item)
    return toolkit


# --------------------------------------------------------------------------------------------
# The requirement


def read_image_requirement(module, image, engine='auto'):
    """Inspect a local image with docker or podman; raise RequirementError with the fix."""
    engines = ['docker', 'podman'] if engine == 'auto' else [engine]
    found = [(name, module.get_bin_path(name)) for name in engines]
    found = [(name, path) for name, path in found if path]
    if not found:
        raise RequirementError(
            'Cannot read the CUDA requirement of image %s because %s was not found on this host: '
            'install it, or pass cuda_version instead of image.'
            % (image, ' or '.join(engines)))
    errors = []
    for name, path in found:
        rc, out, err = module.run_command([path, 'image', 'inspect', image],
                                          environ_update={'LC_ALL': 'C', 'LANG': 'C'})
        if rc == 0:
            problem = None
            try:
                requirement = probe.requirement_from_image(out)
            except ValueError as exc:
                requirement, problem = None, str(exc)
            if problem:
                raise RequirementError(
                    'Cannot read the CUDA requirement of image %s from %s image inspect (%s): '
                    'check the image, or pass cuda_version instead.' % (image, name, problem))
            if requirement is None:
                raise RequirementError(
                    'Image %s declares no CUDA version (no NVIDIA_REQUIRE_CUDA, CUDA_VERSION or '
                    'com.nvidia.cuda.version label): pass cuda_version instead.' % image)
            requirement['engine'] = name
            return requirement
        errors.append('%s: %s' % (name, (err or out or '').strip().splitlines()[-1:] or rc))
    raise RequirementError(
        'Image %s is not in the local image store of %s (%s): pull or load it first '
        '(for example "%s pull %s"), or pass cuda_version instead.'
        % (image, ' or '.join(name for name, _path in found), '; '.join(
            str(e) for e in errors), found[0][0], image))


# --------------------------------------------------------------------------------------------
# Judgement


def _subject(planning, driver):
    if planning:
        return 'the planned driver %s' % driver
    return "this host's driver %s" % driver


def _runs_at_most(cuda):
    return 'runs CUDA %s at most' % cuda if cuda else 'is older than every driver in NVIDIA\'s table'


def judge(facts, requirement=None, planning=False, toolkit=None):
    """Judge gathered facts against a requirement; pure.

    ``requirement``: None or {'cuda': '8.0', 'source': ..., 'lenient': bool}. Returns the
    module's result (without ``changed``) plus ``failure``: the one-sentence reason to fail, or
    None. Raises CudaVersionError for a CUDA version that is not in the table.
    """
    toolkit = toolkit or {}
    driver = facts.get('driver_version')
    result = {
        'driver_version': driver,
        'driver_loaded': facts.get('driver_loaded'),
        'library_version': facts.get('library_version'),
        'library_mismatch': bool(facts.get('library_mismatch')),
        'cuda_driver_version': facts.get('cuda_driver_version'),
        'kernel_module': facts.get('kernel_module'),
        'sources': dict(facts.get('sources') or {}),
        'toolkit_version': toolkit.get('version'),
        'toolkit_path': toolkit.get('path'),
        'required_cuda': None,
        'required_driver': None,
        'requirement_source': None,
        'compatible': None,
        'minor_version_compatible': None,
        'messages': [],
        'remediation': '',
        'failure': None,
    }
    messages = result['messages']
    release = None
    if requirement:
        release = find_release(requirement['cuda'], lenient=requirement.get('lenient', False))
        result['required_cuda'] = requirement['cuda']
        result['required_driver'] = release.min_driver
        result['requirement_source'] = requirement.get('source')
        if requirement.get('note'):
            messages.append(requirement['note'])

    if driver and not result['cuda_driver_version']:
        result['cuda_driver_version'] = max_cuda(driver)
        top = RELEASES[-1]
        if driver_key(driver) > driver_key(top.min_driver):
            messages.append(
                'Driver %s is newer than the newest driver in NVIDIA\'s table (%s needs %s), so '
                'it runs CUDA %s at least.' % (driver, top.label, top.min_driver, top.short))
    cuda_max = result['cuda_driver_version']
    subject = _subject(planning, driver)
    library = result['library_version']

    # A driver that cannot run anything comes first.
    if result['library_mismatch']:
        result['compatible'] = False
        if driver and library:
            sentence = (
                'The loaded NVIDIA kernel module %s does not match the userspace driver library %s '
                '(Driver/library version mismatch), so no CUDA program can start: stop the '
                'processes that use the GPU and reload the kernel module (%s), or reboot.'
                % (driver, library, RELOAD_COMMANDS))
        else:
            sentence = (
                'The loaded NVIDIA kernel module%s does not match the installed userspace driver '
                'library%s (Driver/library version mismatch), so no CUDA program can start: stop '
                'the processes that use the GPU and reload the kernel module (%s), or reboot.'
                % (' ' + driver if driver else '', ' ' + library if library else '',
                   RELOAD_COMMANDS))
        messages.append(sentence)
        result['failure'] = sentence
        result['remediation'] = (
            'Stop everything that uses the GPU (CUDA jobs, containers started with the NVIDIA '
            'runtime, nvidia-persistenced, a display manager; "fuser -v /dev/nvidia*" lists '
            'them), then run "rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia" and '
            '"modprobe nvidia" to load the %s kernel module that matches the library, or reboot '
            'the host.' % (library or 'new'))
        if release is not None and library:
            after = max_cuda(library)
            if driver_at_least(library, release.min_driver):
                messages.append(
                    'After the reload, driver %s runs CUDA %s at most, which meets CUDA %s '
                    '(needs %s).' % (library, after, result['required_cuda'], release.min_driver))
            else:
                messages.append(
                    'Even after the reload, driver %s %s, which does not meet CUDA %s (needs %s).'
                    % (library, _runs_at_most(after), result['required_cuda'],
                       release.min_driver))
        result['minor_version_compatible'] = False if release is not None else None
        return result

    if result['driver_loaded'] is False:
        # The kernel module on disk (modinfo) says a driver is installed when no library does.
        library = library or (facts.get('installed_module') or {}).get('version')
        if library:
            sentence = (
                'The NVIDIA kernel module is not loaded on this host (the userspace driver %s is '
                'installed), so no CUDA program can start: load it with "modprobe nvidia", '
                'install the kernel module for the running kernel if modprobe cannot find it, '
                'or reboot.' % library)
            result['remediation'] = (
                'Run "modprobe nvidia" as root; if it reports that the module is not found, '
                'install the NVIDIA %s kernel module for the running kernel (the DKMS or kmod '
                'package that matches "uname -r") and load it, or reboot the host.' % library)
        else:
            sentence = (
                'No NVIDIA driver is loaded or installed on this host, so no CUDA program can '
                'start: install the NVIDIA driver%s and load its kernel module (modprobe nvidia), '
                'or reboot.' % (' %s or newer' % release.min_driver if release else ''))
            result['remediation'] = (
                'Install the NVIDIA driver%s with its kernel module for the running kernel, then '
                'run "modprobe nvidia" or reboot the host.'
                % (' %s or newer' % release.min_driver if release else ''))
        messages.append(sentence)
        if release is not None:
            result['compatible'] = False
            result['minor_version_compatible'] = False
            result['failure'] = sentence
            if library:
                ok = driver_at_least(library, release.min_driver)
                messages.append(
                    'Once loaded, driver %s %s, which %s CUDA %s (needs %s).'
                    % (library, _runs_at_most(max_cuda(library)), 'meets' if ok else
                       'does not meet', result['required_cuda'], release.min_driver))
        return result

    if not driver:
        if release is not None:
            sentence = (
                'Cannot tell whether CUDA %s (needs driver %s) runs here because this host\'s '
                'NVIDIA driver version could not be read (see the warnings): check the driver '
                'installation, or pass driver_version to judge a planned driver.'
                % (result['required_cuda'], release.min_driver))
            messages.append(sentence)
            result['failure'] = sentence
        return result

    if release is None:
        if cuda_max:
            messages.append('%s %s.' % (subject[0].upper() + subject[1:], _runs_at_most(cuda_max)))
        _toolkit_message(result, driver, subject)
        return result

    compatible = driver_at_least(driver, release.min_driver)
    floor = minor_version_floor(release.major)
    minor_ok = compatible or bool(floor and driver_at_least(driver, floor))
    result['compatible'] = compatible
    result['minor_version_compatible'] = minor_ok
    required = result['required_cuda']
    if compatible:
        messages.append(
            'CUDA %s needs NVIDIA driver %s or newer, and %s meets it (it %s).'
            % (required, release.min_driver, subject, _runs_at_most(cuda_max)))
    else:
        if cuda_max:
            sentence = (
                'CUDA %s needs NVIDIA driver %s or newer, but %s runs CUDA %s at most: upgrade '
                'the driver or use an image built for CUDA %s.'
                % (required, release.min_driver, subject, cuda_max, cuda_max))
        else:
            sentence = (
                'CUDA %s needs NVIDIA driver %s or newer, but %s is older than every driver in '
                'NVIDIA\'s table: upgrade the driver.' % (required, release.min_driver, subject))
        messages.append(sentence)
        result['failure'] = sentence
        result['remediation'] = (
            'Install NVIDIA driver %s or newer and load it (reload the kernel module or reboot)%s.'
            % (release.min_driver,
               ', or use an image or toolkit built for CUDA %s or older' % cuda_max
               if cuda_max else ''))
        if minor_ok:
            messages.append(
                'CUDA %s applications can still run on %s through CUDA minor version '
                'compatibility (CUDA %d.x needs driver %s or newer), but PTX JIT compilation and '
                'features newer than CUDA %s need driver %s.'
                % (required, subject, release.major, floor, cuda_max, release.min_driver))
    _toolkit_message(result, driver, subject)
    return result


def _toolkit_message(result, driver, subject):
    version = result.get('toolkit_version')
    if not version:
        return
    try:
        release = find_release(version, lenient=True)
    except CudaVersionError:
        result['messages'].append(
            'The installed CUDA toolkit %s is not in NVIDIA\'s minimum-driver table.' % version)
        return
    where = ' at %s' % result['toolkit_path'] if result.get('toolkit_path') else ''
    if driver_at_least(driver, release.min_driver):
        result['messages'].append(
            'The installed CUDA toolkit %s%s (CUDA %s, needs driver %s) runs on %s.'
            % (version, where, release.short, release.min_driver, subject))
    else:
        result['messages'].append(
            'The installed CUDA toolkit %s%s (CUDA %s) needs driver %s, newer than %s.'
            % (version, where, release.short, release.min_driver, subject))


def _public_gpu(gpu):
    entry = dict(gpu)
    entry['device_id'] = '0x%04x' % gpu['device_id']
    return entry


def _gpu_summary(gpus, switch):
    parts = []
    for gpu in gpus_table.group(gpus):
        parts.append(gpus_table.count_prefix(gpus, gpu) + gpus_table.describe(gpu))
    unknown = sorted(set('0x%04x' % g['device_id'] for g in gpus if not g.get('architecture')))
    if unknown:
        parts.append('PCI device id%s %s, not in this module\'s GPU table'
                     % ('s' if len(unknown) > 1 else '', ', '.join(unknown)))
    sentence = 'NVIDIA GPUs: %s.' % '; '.join(parts) if parts else 'No NVIDIA GPU found.'
    if switch['present']:
        sentence += ' NVSwitch: %d device%s.' % (switch['count'], 's' if switch['count'] > 1 else '')
    return sentence


def _judged_driver(facts, planning):
    """(version, flavour) of the driver that runs, or will run once loaded, on the GPUs."""
    if planning:
        return facts.get('driver_version'), facts.get('planned_kernel_module')
    installed = facts.get('installed_module') or {}
    if facts.get('library_mismatch') or facts.get('driver_loaded') is False:
        version = facts.get('library_version') or installed.get('version')
        return version, installed.get('flavour')
    return facts.get('driver_version'), facts.get('kernel_module') or installed.get('flavour')


def _fabric_manager_verdict(switch, state, driver, gpus, planning):
    """(sentence, fix, ready) for Fabric Manager on an NVSwitch host; (sentence, '', None) when
    nothing can be required of it (planning, no driver loaded)."""
    devices = '%d NVSwitch device%s' % (switch['count'], 's' if switch['count'] > 1 else '')
    branch = gpus_table.branch_of(driver) if driver else None
    package = ('nvidia-fabricmanager-%d of exactly version %s (the driver\'s, not a newer one '
               'of the same branch)' % (branch, driver)) if driver else 'nvidia-fabricmanager'
    nvlsm = (' Blackwell HGX systems also need NVIDIA\'s NVLink Subnet Manager (NVLSM) for '
             'Fabric Manager to start.'
             if any(g.get('architecture') == 'blackwell' for g in gpus) else '')
    if planning or state is None:
        return ('NVSwitch present (%s): CUDA needs nvidia-fabricmanager of exactly the driver\'s '
                'version running%s.' % (devices, ' (%s)' % driver if driver else ''), '', None)
    why = ('CUDA fails with error 802 (cudaErrorSystemNotReady, "system not yet initialized") '
           'although nvidia-smi lists every GPU, until Fabric Manager of exactly the driver\'s '
           'version runs')
    if not state['running']:
        if not state['installed']:
            installed = ' (nv-fabricmanager is not installed)'
        elif state['version'] and driver and state['version'] != driver:
            installed = ' (nv-fabricmanager %s is installed, not the driver\'s %s)' % (
                state['version'], driver)
        elif state['version']:
            installed = ' (nv-fabricmanager %s is installed)' % state['version']
        else:
            installed = ''
        return ('NVSwitch present (%s), Fabric Manager not running%s: %s.' % (devices, installed, why),
                'Install %s and run "systemctl enable --now nvidia-fabricmanager".%s'
                % (package, nvlsm), False)
    if driver and state['version'] and state['version'] != driver:
        return ('NVSwitch present (%s), Fabric Manager version differs: nv-fabricmanager is %s and '
                'the driver %s; it must be exactly the driver\'s version (it stops with "driver '
                'interface version ... don\'t match"), and %s.'
                % (devices, state['version'], driver, why),
                'Install %s and run "systemctl restart nvidia-fabricmanager".%s' % (package, nvlsm),
                False)
    if not state['version']:
        return ('NVSwitch present (%s), Fabric Manager running; its version could not be read, so '
                'it is not known to be the driver\'s.' % devices, '', None)
    return ('NVSwitch present (%s), Fabric Manager %s running, the driver\'s version.'
            % (devices, state['version']), '', True)


def judge_gpus(result, facts, gpu_facts, planning=False):
    """Add to ``result`` (what judge() returned) the verdicts on the GPU generation, the kernel
    module flavour, CUDA's support of the GPUs and Fabric Manager; pure."""
    gpus = gpu_facts['gpus']
    switch = gpu_facts['nvswitch']
    driver, flavour = _judged_driver(facts, planning)
    recommended, reason = gpus_table.recommended_flavour(gpus)
    known = gpus_table.group(gpus)
    result.update({
        'gpus': [_public_gpu(g) for g in gpus],
        'gpu_architectures': [a for a in gpus_table.ARCHITECTURE_ORDER
                              if a in set(g['architecture'] for g in known)],
        'kernel_module_recommended': recommended,
        'kernel_module_reason': reason[0].upper() + reason[1:] + '.',
        'kernel_modules_supported': gpus_table.supported_flavours(gpus),
        'driver_branch_first': gpus_table.branch_limits(gpus)[0],
        'driver_branch_last': gpus_table.branch_limits(gpus)[1],
        'gpu_compatible': None,
        'gpu_driver_problems': [],
        'gpu_cuda_problems': [],
        'nvswitch': {'present': switch['present'], 'count': switch['count'],
                     'pci_addresses': list(switch['pci_addresses']),
                     'proc_devices': switch['proc_devices']},
        'fabric_manager': None,
    })
    problems = []
    try:
        problems.extend(gpus_table.driver_problems(gpus, driver, flavour, planning))
    except CudaVersionError:  # a driver version that is no version was refused already
        driver = None
    if known and driver:
        result['gpu_compatible'] = not problems
    result['gpu_driver_problems'] = [sentence for sentence, _fix in problems]
    if result.get('required_cuda'):
        cuda = gpus_table.cuda_problems(gpus, result['required_cuda'])
        result['gpu_cuda_problems'] = [sentence for sentence, _fix in cuda]
        problems.extend(cuda)
    notes = gpus_table.flavour_notes(gpus, flavour)

    fm_sentence = fm_fix = None
    if switch['present']:
        state = gpu_facts.get('fabric_manager')
        loaded = facts.get('driver_loaded') and not facts.get('library_mismatch')
        fm_driver = driver if planning else (facts.get('driver_version') if loaded else None)
        fm_sentence, fm_fix, ready = _fabric_manager_verdict(
            switch, state if loaded else None, fm_driver, gpus, planning)
        result['fabric_manager'] = {
            'running': state['running'] if state else None,
            'version': state['version'] if state else None,
            'required_version': fm_driver,
            'ready': ready,
        }
        if ready is not False:
            notes.append(fm_sentence)
            fm_sentence = None

    # The verdicts first: what keeps the GPUs from running (a driver that cannot drive them, a
    # CUDA with no code for them, Fabric Manager missing), then the table's sentences.
    messages = [sentence for sentence, _fix in problems] + ([fm_sentence] if fm_sentence else [])
    messages.extend(result['messages'])
    messages.extend(notes)
    if gpus or switch['present']:
        messages.append(_gpu_summary(gpus, switch))
    result['messages'] = messages
    fixes = [fix for _sentence, fix in problems] + [fm_fix or '', result['remediation']]
    result['remediation'] = ' '.join(fix for fix in fixes if fix)
    result['failure'] = ((problems[0][0] if problems else None) or fm_sentence
                         or result['failure'])
    if (problems or fm_sentence) and result.get('required_cuda'):
        result['compatible'] = False
        result['minor_version_compatible'] = False
    return result


# --------------------------------------------------------------------------------------------
# Module entry point


def run_module(module, nvml_loader=None, cuda_loader=None):
    """Everything the module does; ends in exit_json or fail_json."""
    params = module.params
    planning = bool(params.get('driver_version'))
    if planning:
        try:
            driver_key(params['driver_version'])
        except CudaVersionError as exc:
            module.fail_json(msg=str(exc))

    requirement = None
    try:
        if params.get('cuda_version'):
            requirement = {'cuda': params['cuda_version'].strip(), 'source': 'cuda_version'}
        elif params.get('image'):
            found = read_image_requirement(module, params['image'],
                                           params.get('container_engine') or 'auto')
            requirement = {'cuda': found['cuda'], 'lenient': True,
                           'source': 'image %s (%s)' % (params['image'], found['source'])}
            if found.get('disabled'):
                requirement['note'] = (
                    'Image %s sets NVIDIA_DISABLE_REQUIRE, so nvidia-container-toolkit will not '
                    'check its requirement; this module still judges it.' % params['image'])
        if requirement:
            find_release(requirement['cuda'], lenient=requirement.get('lenient', False))
    except (RequirementError, CudaVersionError) as exc:
        module.fail_json(msg=str(exc))

    try:
        device_ids = (_device_ids(params['gpu_device_ids'])
                      if params.get('gpu_device_ids') is not None else None)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if planning:
        facts = {'driver_version': params['driver_version'].strip(), 'driver_loaded': None,
                 'library_version': None, 'library_mismatch': False,
                 'cuda_driver_version': None,
                 'planned_kernel_module': params.get('kernel_module')}
        gpu_facts = gather_gpu_facts(module, device_ids=device_ids, with_fabric_manager=False)
    else:
        facts = gather_host_facts(module, nvml_loader, cuda_loader)
        gpu_facts = gather_gpu_facts(module, facts.pop('nvml_devices', []), device_ids=device_ids)
        if params.get('kernel_module'):
            module.warn('kernel_module is judged only with driver_version (a planned driver); '
                        'the host\'s own module flavour is judged here.')
        if (gpus_table.group(gpu_facts['gpus'])
                and (facts['driver_loaded'] is False or facts['library_mismatch'])):
            facts['installed_module'] = gather_installed_module(module)
    facts.pop('nvml_devices', None)
    toolkit = gather_toolkit(module, params.get('toolkit_path'))

    result = judge(facts, requirement, planning=planning, toolkit=toolkit)
    judge_gpus(result, facts, gpu_facts, planning=planning)
    failure = result.pop('failure')
    if planning:
        result['driver_loaded'] = None
        result['library_mismatch'] = False
    if failure and params.get('fail_on_incompatible', True):
        module.fail_json(msg=failure, changed=False, **result)
    module.exit_json(changed=False, **result)

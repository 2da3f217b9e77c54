# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic of the ``hpcdl.gpu.cuda_compat`` module: gather driver facts, resolve the requirement,
judge it against NVIDIA's tables, and say what to do.

Standard library only (Python 2.7 and 3.6+).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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

    if planning:
        facts = {'driver_version': params['driver_version'].strip(), 'driver_loaded': None,
                 'library_version': None, 'library_mismatch': False,
                 'cuda_driver_version': None}
    else:
        facts = gather_host_facts(module, nvml_loader, cuda_loader)
    toolkit = gather_toolkit(module, params.get('toolkit_path'))

    result = judge(facts, requirement, planning=planning, toolkit=toolkit)
    failure = result.pop('failure')
    if planning:
        result['driver_loaded'] = None
        result['library_mismatch'] = False
    if failure and params.get('fail_on_incompatible', True):
        module.fail_json(msg=failure, changed=False, **result)
    module.exit_json(changed=False, **result)

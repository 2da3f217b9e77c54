# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic of the ``hpcdl.gpu.gpu_framework_check`` module: does a framework in the container see a
CUDA device, and does a small kernel give the right answer there?

CHECK_CODE is the program that runs inside the container (or on the host), with the image's own
Python; it prints one JSON line. The rest reads that line and, where the GPU does not work, asks
the cuda_compat logic whether the framework's CUDA is newer than the node's driver, so the user
reads NVIDIA's rule and the fix instead of a framework's stack trace.

Standard library only (Python 2.7 and 3.6+) on the node.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_compat import gather_host_facts, judge
from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_table import CudaVersionError

ARGUMENT_SPEC = dict(
    container=dict(type='str'),
    image=dict(type='str'),
    python=dict(type='str', default='python3'),
    engine=dict(type='str', default='docker', choices=['docker', 'podman']),
    runtime=dict(type='str', default=''),
    gpus=dict(type='str', default='all'),
    require_gpu=dict(type='bool', default=True),
    framework=dict(type='str', default='auto', choices=['auto', 'torch', 'tensorflow']),
)

# The program that runs with the image's Python (3.6 or newer). It imports the framework, asks
# for its CUDA devices, and computes on the first one (else on the CPU) two results it knows:
# the sum of the squares of 0..65535 in float64 (exact: every partial sum is below 2**53) and a
# 64x64 float32 product of matrices of 0.5 (every element 16.0, through the BLAS library).
CHECK_CODE = r'''
import json, sys, warnings
want = sys.argv[1] if len(sys.argv) > 1 else "auto"
N = 1 << 16
EXPECTED = (N - 1) * N * (2 * N - 1) // 6
out = {"framework": None, "version": None, "cuda_built": None, "cuda_available": False,
       "device_count": 0, "devices": [], "capability": None, "kernel_ok": False,
       "kernel_device": None, "error": None, "warnings": []}


def last_line(exc):
    text = str(exc).strip()
    return "%s: %s" % (type(exc).__name__, text.splitlines()[-1] if text else "")


def check_torch():
    import torch
    out["framework"], out["version"] = "torch", torch.__version__
    out["cuda_built"] = torch.version.cuda
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    out["warnings"] = [str(w.message).strip().splitlines()[0] for w in caught
                       if "NumPy" not in str(w.message)][:3]
    out["cuda_available"] = bool(available)
    if available:
        out["device_count"] = torch.cuda.device_count()
        out["devices"] = [torch.cuda.get_device_name(i) for i in range(out["device_count"])]
        out["capability"] = "%d.%d" % torch.cuda.get_device_capability(0)
    dev = torch.device("cuda:0" if available else "cpu")
    out["kernel_device"] = str(dev)
    x = torch.arange(N, dtype=torch.float64, device=dev)
    total = int((x * x).sum().item())
    a = torch.full((64, 64), 0.5, dtype=torch.float32, device=dev)
    product = a @ a
    ok_product = bool(torch.all(product == 16.0).item())
    out["kernel"] = {"sum_of_squares": total, "expected": EXPECTED, "matmul_ok": ok_product}
    out["kernel_ok"] = total == EXPECTED and ok_product


def check_tensorflow():
    import tensorflow as tf
    out["framework"], out["version"] = "tensorflow", tf.__version__
    try:
        out["cuda_built"] = tf.sysconfig.get_build_info().get("cuda_version")
    except Exception:
        pass
    gpus = tf.config.list_physical_devices("GPU")
    out["cuda_available"] = bool(gpus)
    out["device_count"] = len(gpus)
    out["devices"] = [g.name for g in gpus]
    name = "/GPU:0" if gpus else "/CPU:0"
    out["kernel_device"] = name
    with tf.device(name):
        x = tf.range(N, dtype=tf.float64)
        total = int(tf.reduce_sum(x * x).numpy())
        a = tf.fill((64, 64), tf.constant(0.5, tf.float32))
        ok_product = bool(tf.reduce_all(tf.equal(tf.matmul(a, a), 16.0)).numpy())
    out["kernel"] = {"sum_of_squares": total, "expected": EXPECTED, "matmul_ok": ok_product}
    out["kernel_ok"] = total == EXPECTED and ok_product


order = {"auto": ["torch", "tensorflow"], "torch": ["torch"], "tensorflow": ["tensorflow"]}[want]
checks = {"torch": check_torch, "tensorflow": check_tensorflow}
missing = []
for name in order:
    try:
        checks[name]()
    except ImportError as exc:
        if out["framework"] is None:  # the framework itself is not there: try the next one
            missing.append(last_line(exc))
            continue
        out["error"] = last_line(exc)
    except Exception as exc:
        out["error"] = last_line(exc)
    break
if out["framework"] is None:
    out["error"] = "no %s here (%s)" % (" or ".join(order), "; ".join(missing))
print(json.dumps(out))
'''

# What nvidia-container-toolkit says when an image's NVIDIA_REQUIRE_CUDA is newer than the driver.
_UNSATISFIED = re.compile(r'unsatisfied condition: cuda\s*>=\s*([0-9]+\.[0-9]+)')


def build_command(params):
    """The command line that runs CHECK_CODE (read from stdin) where the parameters say."""
    tail = [params.get('python') or 'python3', '-', params.get('framework') or 'auto']
    engine = params.get('engine') or 'docker'
    if params.get('container'):
        return [engine, 'exec', '-i', params['container']] + tail
    if params.get('image'):
        argv = [engine, 'run', '--rm', '-i', '--pull', 'never', '--network', 'none', '--entrypoint', tail[0]]
        if params.get('runtime'):
            argv += ['--runtime', params['runtime']]
        gpus = params.get('gpus') or ''
        if gpus and gpus != 'none':
            argv += ['-e', 'NVIDIA_VISIBLE_DEVICES=' + gpus, '-e', 'NVIDIA_DRIVER_CAPABILITIES=compute,utility']
        return argv + [params['image']] + tail[1:]
    return tail


def where(params):
    if params.get('container'):
        return 'container %s' % params['container']
    if params.get('image'):
        return 'a container of image %s' % params['image']
    return '%s on this host' % (params.get('python') or 'python3')


def parse_report(stdout):
    """The JSON line CHECK_CODE printed (the last line that is a JSON object), or None."""
    for line in reversed((stdout or '').splitlines()):
        line = line.strip()
        if line.startswith('{'):
            try:
                report = json.loads(line)
            except ValueError:
                continue
            if isinstance(report, dict) and 'kernel_ok' in report:
                return report
    return None


def _short(text, limit=400):
    lines = [line.strip() for line in (text or '').strip().splitlines() if line.strip()]
    text = ' '.join(lines[-3:])
    return text if len(text) <= limit else text[:limit - 3] + '...'


def cuda_requirement(report, stderr):
    """The CUDA version to judge against the driver: the framework's build, or the one the NVIDIA
    runtime refused the image for."""
    found = _UNSATISFIED.search(stderr or '')
    if found:
        return found.group(1), 'the image (NVIDIA_REQUIRE_CUDA, refused by the NVIDIA runtime)'
    if report and report.get('cuda_built'):
        return str(report['cuda_built']), '%s %s, built for CUDA %s' % (
            report.get('framework'), report.get('version'), report['cuda_built'])
    return None, None


def verdict(report, rc, stderr, params):
    """(ok, label, msg): whether the check passed, GPU or CPU, and the sentence a person reads."""
    place = where(params)
    if report is None:
        return False, None, 'The framework check could not run in %s (rc=%s): %s' % (
            place, rc, _short(stderr) or 'it printed nothing')
    name = '%s %s' % (report.get('framework'), report.get('version'))
    if report.get('framework') is None:
        return False, None, 'No framework in %s: %s.' % (place, report.get('error'))
    if report.get('error'):
        return False, 'GPU' if report.get('cuda_available') else 'CPU', '%s in %s failed on %s: %s' % (
            name, place, report.get('kernel_device'), report['error'])
    if not report.get('kernel_ok'):
        return False, 'GPU' if report.get('cuda_available') else 'CPU', (
            '%s in %s computed a wrong result on %s: %s' % (name, place, report.get('kernel_device'),
                                                            json.dumps(report.get('kernel'), sort_keys=True)))
    if report.get('cuda_available'):
        return True, 'GPU', '%s in %s sees %d CUDA device(s) (%s, compute capability %s) and computed the ' \
            'right results on %s.' % (name, place, report.get('device_count'),
                                      ', '.join(report.get('devices') or []), report.get('capability'),
                                      report.get('kernel_device'))
    cpu = '%s in %s sees no CUDA device%s; it computed the right results on the CPU.' % (
        name, place, (' (%s)' % '; '.join(report['warnings'])) if report.get('warnings') else '')
    if params.get('require_gpu', True):
        return False, 'CPU', cpu
    return True, 'CPU', cpu


def judge_cuda(module, report, stderr):
    """cuda_compat's verdict on the framework's (or image's) CUDA against this node's driver, or None."""
    cuda, source = cuda_requirement(report, stderr)
    if not cuda:
        return None
    facts = gather_host_facts(module)
    try:
        result = judge(facts, {'cuda': cuda, 'lenient': True, 'source': source})
    except CudaVersionError as exc:
        return {'required_cuda': cuda, 'requirement_source': source, 'compatible': None,
                'messages': [str(exc)], 'remediation': '', 'failure': None}
    return result


def run_module(module):
    params = module.params
    argv = build_command(params)
    rc, stdout, stderr = module.run_command(argv, data=CHECK_CODE, binary_data=False,
                                            environ_update={'LC_ALL': 'C.UTF-8', 'PYTHONWARNINGS': 'ignore'},
                                            check_rc=False)
    report = parse_report(stdout)
    ok, label, msg = verdict(report, rc, stderr, params)
    result = {
        'changed': False, 'ok': ok, 'label': label, 'where': where(params), 'command': argv,
        'framework': (report or {}).get('framework'), 'framework_version': (report or {}).get('version'),
        'cuda_built': (report or {}).get('cuda_built'), 'cuda_available': bool((report or {}).get('cuda_available')),
        'device_count': (report or {}).get('device_count') or 0, 'devices': (report or {}).get('devices') or [],
        'capability': (report or {}).get('capability'), 'kernel_ok': bool((report or {}).get('kernel_ok')),
        'kernel': (report or {}).get('kernel'), 'error': (report or {}).get('error'),
        'compat': None, 'msg': msg,
    }
    if ok:
        module.exit_json(**result)
    if params.get('require_gpu', True):
        compat = judge_cuda(module, report, stderr)
        if compat is not None:
            failure = compat.pop('failure', None)
            result['compat'] = compat
            if compat.get('compatible') is False:
                # The framework's (or image's) CUDA is newer than the driver: NVIDIA's rule, not a trace.
                result['msg'] = '%s %s %s' % (
                    'The GPU does not work in %s: %s.' % (where(params), cuda_requirement(report, stderr)[1]),
                    failure or ' '.join(compat.get('messages') or []),
                    ('What to do: ' + compat['remediation']) if compat.get('remediation') else '')
                result['msg'] = result['msg'].strip()
            elif compat.get('compatible'):
                result['msg'] = '%s (cuda_compat: %s)' % (msg, ' '.join(compat.get('messages') or []))
    module.fail_json(**result)

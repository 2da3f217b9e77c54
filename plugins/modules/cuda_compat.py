#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cuda_compat
short_description: Tell whether a CUDA version runs on an NVIDIA driver, and if not, why
version_added: 1.0.0
description:
  - Reads the loaded NVIDIA kernel module's version from C(/proc/driver/nvidia/version), the
    userspace driver library's version and the newest CUDA the driver supports through NVML
    (C(libnvidia-ml.so.1), with ctypes) and C(libcuda.so.1) (C(cuDriverGetVersion)), with
    C(nvidia-smi) as a fallback and the library's file name (C(libnvidia-ml.so.535.261.03))
    where NVML cannot start. Each source is optional; one that fails becomes a warning.
  - Reads the installed CUDA toolkit from O(toolkit_path) (C(version.json), then
    C(version.txt)), then C(nvcc --version).
  - Judges a requirement, given as O(cuda_version) or read from a local container O(image),
    against NVIDIA's minimum-driver table (CUDA Toolkit Release Notes, Table 3 "CUDA Toolkit and
    Corresponding Driver Versions", Linux x86_64, CUDA 7.0 to 13.3 Update 1) and the CUDA minor
    version compatibility rules (Table 2; CUDA 11.x from driver 450.80.02, 12.x from 525.60.13,
    13.x from 580).
  - "Detects a driver/library version mismatch (the loaded kernel module differs from the
    userspace library, C(Failed to initialize NVML: Driver/library version mismatch)) and a
    driver that is not loaded, and says how to fix each in RV(remediation)."
  - With O(driver_version) it judges that driver instead of the host's (planning; no GPU and no
    driver needed, nothing is read from the host's driver).
  - Without a requirement it reports the facts; RV(compatible) is then V(null) and the module
    fails only on a driver/library mismatch.
  - It never changes the host; C(changed) is always V(false).
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
options:
  cuda_version:
    description:
      - The CUDA version a workload needs, as V(major.minor) (V(8.0), V(12.2), V(13.0); the
        first release of that minor version) or a full release (V(8.0.61), V(12.4.1); from CUDA
        11 on the third number is the update).
      - A version that is not in NVIDIA's table fails with the list of known releases of that
        major version.
      - Mutually exclusive with O(image).
    type: str
  image:
    description:
      - A container image present on the host whose CUDA requirement is judged.
      - The requirement is read with C(docker image inspect) or C(podman image inspect) from
        the environment variable C(NVIDIA_REQUIRE_CUDA) (space-separated constraints are OR,
        comma-separated ones AND, as nvidia-container-toolkit reads them; the weakest
        C(cuda>=) constraint is judged), else C(CUDA_VERSION), else the nvidia-docker 1.0 label
        C(com.nvidia.cuda.version).
      - A missing container engine or image fails with what to do.
    type: str
  driver_version:
    description:
      - Judge this NVIDIA driver version (V(535.104.05)) instead of the host's, for planning.
      - The newest CUDA it runs then comes from NVIDIA's table, and the host's driver is not read
        (RV(driver_loaded) is V(null)).
    type: str
  fail_on_incompatible:
    description:
      - Fail when the requirement does not run on the driver, or on a driver/library mismatch,
        or when the driver is not loaded and a requirement was given.
      - With V(false) the module returns the same facts with RV(compatible=false) and does not
        fail. Input errors (an unknown CUDA version, a missing image) always fail.
    type: bool
    default: true
  toolkit_path:
    description:
      - Where the CUDA toolkit is installed; C(version.json), C(version.txt) and C(bin/nvcc)
        are read there before the C(nvcc) on E(PATH).
    type: path
    default: /usr/local/cuda
  container_engine:
    description:
      - Which engine reads O(image). V(auto) tries C(docker), then C(podman).
    type: str
    choices: [auto, docker, podman]
    default: auto
notes:
  - Needs no Python library beyond the standard one on the target; runs on Python 2.7 and 3.6+.
  - Driver versions are compared with the Linux x86_64 column of NVIDIA's table.
seealso:
  - name: CUDA Toolkit Release Notes, CUDA Driver
    description: NVIDIA's table of minimum drivers (Table 3) and minor version compatibility (Table 2).
    link: https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html#cuda-driver
  - name: CUDA Compatibility
    description: Minor version and forward compatibility.
    link: https://docs.nvidia.com/deploy/cuda-compatibility/index.html
'''

EXAMPLES = r'''
- name: Check that this host's driver runs CUDA 12.2
  hpcdl.gpu.cuda_compat:
    cuda_version: "12.2"

- name: Check the image the notebook runs, without failing, and show the verdict
  hpcdl.gpu.cuda_compat:
    image: registry.example.com/tensorflow/tensorflow:latest-gpu
    fail_on_incompatible: false
  register: gpu_check

- name: Show what to do when it does not fit
  ansible.builtin.debug:
    msg: "{{ gpu_check.messages + [gpu_check.remediation] }}"
  when: gpu_check.compatible is false

- name: Plan a driver upgrade without a GPU
  hpcdl.gpu.cuda_compat:
    driver_version: "535.261.03"
    cuda_version: "12.4"
    fail_on_incompatible: false
  delegate_to: localhost
'''

RETURN = r'''
driver_version:
  description:
    - The driver version judged. The loaded kernel module's (C(/proc/driver/nvidia/version),
      else NVML, else nvidia-smi), or O(driver_version) when given.
    - V(null) when no driver is loaded.
  returned: always
  type: str
  sample: 580.95.05
driver_loaded:
  description:
    - Whether the NVIDIA kernel module is loaded. V(null) in planning mode (O(driver_version)) or
      when no source could tell.
  returned: always
  type: bool
  sample: true
library_version:
  description:
    - Version of the userspace driver library (libnvidia-ml), from NVML or from its file name,
      or the shortened one nvidia-smi prints on a mismatch. V(null) in planning mode or when no
      library is installed.
  returned: always
  type: str
  sample: 580.95.05
library_mismatch:
  description:
    - True when the loaded kernel module differs from the userspace library
      (C(Driver/library version mismatch)); no CUDA program starts until the module is reloaded
      or the host rebooted.
  returned: always
  type: bool
  sample: false
cuda_driver_version:
  description:
    - The newest CUDA version (major.minor) the driver runs, from NVML, nvidia-smi or
      cuDriverGetVersion, or from NVIDIA's table for a planned driver.
  returned: always
  type: str
  sample: "13.0"
kernel_module:
  description:
    - The flavour of the loaded NVIDIA kernel module as C(/proc/driver/nvidia/version) names it,
      V(open) (NVIDIA's open kernel modules) or V(proprietary). V(null) when no module is loaded or
      in planning mode.
  returned: always
  type: str
  sample: open
sources:
  description:
    - Where each version came from, for the versions that were read on the host, keyed by
      V(driver_version), V(library_version) and V(cuda_driver_version), each naming a file
      (C(/proc/driver/nvidia/version), the library's own file), an NVML or CUDA driver API call, or
      V(nvidia-smi). Empty in planning mode.
  returned: always
  type: dict
  sample:
    driver_version: /proc/driver/nvidia/version
    library_version: nvmlSystemGetNVMLVersion
    cuda_driver_version: nvmlSystemGetCudaDriverVersion
toolkit_version:
  description:
    - The installed CUDA toolkit's version (the runtime's or the compiler's from version.json,
      version.txt, or nvcc). V(null) when none is found.
  returned: always
  type: str
  sample: 13.0.88
toolkit_path:
  description: The folder of the installed toolkit, links resolved. V(null) when none is found.
  returned: always
  type: str
  sample: /usr/local/cuda-13.0
required_cuda:
  description: The CUDA version judged (O(cuda_version) or the image's). V(null) without a requirement.
  returned: always
  type: str
  sample: "13.0"
required_driver:
  description: The minimum Linux x86_64 driver NVIDIA lists for RV(required_cuda).
  returned: always
  type: str
  sample: 580.65.06
requirement_source:
  description: Where RV(required_cuda) came from.
  returned: always
  type: str
  sample: image nvidia/cuda:13.0.2-base-ubuntu24.04 (NVIDIA_REQUIRE_CUDA)
compatible:
  description:
    - True when the driver is at least RV(required_driver) and is loaded without a mismatch.
    - V(null) when no requirement was given (then only a mismatch makes it V(false)), or when the
      driver version could not be read.
  returned: always
  type: bool
  sample: true
minor_version_compatible:
  description:
    - True when the requirement runs through CUDA minor version compatibility (same CUDA major;
      11.x from driver 450.80.02, 12.x from 525.60.13, 13.x from 580), even if not fully
      compatible; PTX JIT compilation and newer features then still need RV(required_driver).
    - Equal to RV(compatible) for CUDA 10.x and older. V(null) without a requirement.
  returned: always
  type: bool
  sample: true
messages:
  description: Sentences a person reads, the verdict first.
  returned: always
  type: list
  elements: str
  sample:
    - >-
      CUDA 13.0 needs NVIDIA driver 580.65.06 or newer, and this host's driver 580.95.05
      meets it (it runs CUDA 13.0 at most).
remediation:
  description: What to do to make it work; empty when nothing needs fixing.
  returned: always
  type: str
  sample: >-
    Install NVIDIA driver 367.48 or newer and load it (reload the kernel module or reboot),
    or use an image or toolkit built for CUDA 7.5 or older.
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_compat import (  # noqa: E402
    ARGUMENT_SPEC,
    run_module,
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[('cuda_version', 'image')],
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == '__main__':
    main()

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
  - Reads the host's NVIDIA GPUs from sysfs (C(/sys/bus/pci/devices/*/vendor), C(device),
    C(class); vendor C(0x10de), display class C(0x03xxxx)), which needs no driver, and where NVML
    answers each GPU's name and compute capability. Each device is placed in its chip and
    architecture (Fermi to Blackwell) by PCI device id ranges (the PCI ID Repository's chip names,
    module_utils C(cuda_gpus)).
  - Judges the driver (the loaded one, the one installed when none is loaded, or O(driver_version))
    and its kernel module flavour against the GPUs, with NVIDIA's last branch for each legacy
    generation (Fermi R390, Kepler R470; Maxwell, Pascal and Volta R580), the first branch for each
    compute capability, and the open kernel module only from Turing on and required on Grace Hopper
    and Blackwell. It also says when a CUDA version builds no code for the GPU (CUDA 9 dropped
    Fermi, 11 compute capability 3.0, 12 Kepler, 13 Maxwell to Volta).
  - "Finds NVSwitches (NVIDIA devices of PCI class C(0x068000), or C(/proc/driver/nvidia-nvswitch/devices))
    and then requires Fabric Manager: an C(nv-fabricmanager) process of exactly the driver's version
    (C(nv-fabricmanager --version)); without it CUDA fails with error 802
    (C(cudaErrorSystemNotReady)) although nvidia-smi lists every GPU. That is a verdict of its own:
    C(NVSwitch present ..., Fabric Manager not running) or C(... Fabric Manager version differs)."
  - With O(driver_version) it judges that driver instead of the host's (planning; no GPU and no
    driver needed, nothing is read from the host's driver; the host's GPUs are still read from
    sysfs, or given as O(gpu_device_ids)).
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
  kernel_module:
    description:
      - With O(driver_version), the kernel module flavour planned with it, V(open) (NVIDIA's open GPU
        kernel modules, C(nvidia-open)) or V(proprietary) (C(cuda-drivers)), judged against the GPUs.
      - Without it the flavour is not judged in planning; RV(kernel_module_recommended) still says
        which one the GPUs need. On the host the loaded module's flavour is judged (or, when none is
        loaded, the one C(modinfo nvidia) finds on disk).
    type: str
    choices: [open, proprietary]
  gpu_device_ids:
    description:
      - PCI device ids of NVIDIA GPUs (V(0x17fd) for a Tesla M40, V(0x2335) for an H200, as C(lspci -nn)
        prints after C(10de:)) judged instead of the host's, to plan for a machine not rented yet.
      - Without it the host's GPUs are read from sysfs.
    type: list
    elements: str
notes:
  - Needs no Python library beyond the standard one on the target; runs on Python 2.7 and 3.6+.
  - Driver versions are compared with the Linux x86_64 column of NVIDIA's table.
  - A GPU whose PCI device id is in no range of the table (a part newer than the table, such as
    B300) is reported as unknown and not judged. The first branch of an architecture is that of
    the first CUDA release for its compute capability; a SKU released later (the H200 after the
    H100) may need a later branch, which the table does not know.
  - On Blackwell HGX systems Fabric Manager also needs NVIDIA's NVLink Subnet Manager (NVLSM); the
    module names it in RV(remediation) and does not check for it.
seealso:
  - name: NVIDIA Fabric Manager User Guide
    description: NVSwitch systems, the exact version match with the driver, CUDA error 802 until it runs.
    link: https://docs.nvidia.com/datacenter/tesla/fabric-manager-user-guide/index.html
  - name: NVIDIA Linux open GPU kernel modules
    description: The README's "Compatible GPUs" (Turing and later) and its list of PCI ids.
    link: https://github.com/NVIDIA/open-gpu-kernel-modules
  - name: NVIDIA legacy GPU list
    description: The last driver branch of each legacy generation.
    link: https://www.nvidia.com/en-us/drivers/unix/legacy-gpu/
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

- name: Will NVIDIA's newest branch still drive the seed's Tesla M40 (0x17fd)?
  hpcdl.gpu.cuda_compat:
    driver_version: "590.44.01"
    kernel_module: proprietary
    gpu_device_ids: ["0x17fd"]
    fail_on_incompatible: false
  delegate_to: localhost
  register: m40_plan

- name: Check an HGX node's NVSwitches and Fabric Manager
  hpcdl.gpu.cuda_compat:
    cuda_version: "13.0"
  register: hgx
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
  description:
    - Sentences a person reads, the verdict first (a driver that cannot drive the GPUs, a CUDA with no code
      for them, Fabric Manager), then the minimum-driver verdict, then notes and the GPUs found.
  returned: always
  type: list
  elements: str
  sample:
    - >-
      CUDA 13.0 needs NVIDIA driver 580.65.06 or newer, and this host's driver 580.95.05
      meets it (it runs CUDA 13.0 at most).
gpus:
  description:
    - The NVIDIA GPUs found (sysfs, with NVML's name and compute capability where the driver answers),
      or those given as O(gpu_device_ids), one entry per GPU.
    - C(chip), C(architecture) and C(compute_capability) are V(null) for a device id the table does not know.
  returned: always
  type: list
  elements: dict
  sample:
    - pci_address: "0000:18:00.0"
      device_id: "0x2335"
      name: NVIDIA H200
      chip: GH100
      architecture: hopper
      compute_capability: "9.0"
      source: /sys/bus/pci/devices and NVML
gpu_architectures:
  description: The architectures of the GPUs found, oldest first (V(fermi) to V(blackwell)).
  returned: always
  type: list
  elements: str
  sample: [hopper]
gpu_compatible:
  description:
    - True when the judged driver (branch and kernel module flavour) drives every known GPU; V(null)
      when there is no driver version or no known GPU.
  returned: always
  type: bool
  sample: true
kernel_module_recommended:
  description:
    - The kernel module flavour the GPUs need or NVIDIA recommends for them, V(open) (Turing and later;
      required on Grace Hopper and Blackwell) or V(proprietary) (Maxwell, Pascal, Volta and older, and
      hosts that mix them with newer GPUs); V(null) when no flavour runs all of them or no GPU is known.
  returned: always
  type: str
  sample: open
kernel_modules_supported:
  description:
    - The kernel module flavours that drive every known GPU found, V([open, proprietary]) from Turing to
      Hopper, V([proprietary]) for Maxwell, Pascal, Volta and older, V([open]) for Grace Hopper and
      Blackwell, V([]) when those are mixed on one host; V(null) without a known GPU.
  returned: always
  type: list
  elements: str
  sample: [open, proprietary]
driver_branch_first:
  description:
    - The oldest driver branch (major version) that drives every known GPU found, from the first CUDA
      release for each compute capability (C(570) for Blackwell B200); V(null) when the table has no
      floor for them (Maxwell and older) or no GPU is known.
  returned: always
  type: int
  sample: 520
driver_branch_last:
  description:
    - The newest driver branch that still drives every known GPU found (C(470) with a Kepler GPU,
      C(580) with Maxwell, Pascal or Volta); V(null) when no legacy GPU is there.
  returned: always
  type: int
  sample: 580
gpu_driver_problems:
  description: The sentences saying why the judged driver or its kernel module flavour does not drive the GPUs.
  returned: always
  type: list
  elements: str
  sample: []
gpu_cuda_problems:
  description: The sentences saying that RV(required_cuda) builds no code for a GPU found.
  returned: always
  type: list
  elements: str
  sample: []
kernel_module_reason:
  description: Why RV(kernel_module_recommended) is what it is, one sentence.
  returned: always
  type: str
  sample: B200 (GB100, Blackwell, compute capability 10.0) needs the open kernel module.
nvswitch:
  description: NVSwitch devices, from sysfs (PCI class C(0x068000)) and C(/proc/driver/nvidia-nvswitch/devices).
  returned: always
  type: dict
  sample:
    present: true
    count: 4
    pci_addresses: ["0000:05:00.0", "0000:06:00.0", "0000:07:00.0", "0000:08:00.0"]
    proc_devices: ["0000:05:00.0", "0000:06:00.0", "0000:07:00.0", "0000:08:00.0"]
fabric_manager:
  description:
    - Fabric Manager's state where NVSwitches are present (V(null) otherwise). C(running) (an
      C(nv-fabricmanager) process), C(version) (what C(nv-fabricmanager --version) prints),
      C(required_version) (the driver's), C(ready) (running at exactly that version; V(null) when it
      cannot be judged, in planning or with no driver loaded).
  returned: always
  type: dict
  sample:
    running: false
    version: null
    required_version: 580.95.05
    ready: false
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

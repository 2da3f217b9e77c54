#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: gpu_framework_check
short_description: Check that a framework in a container sees the GPU and computes right on it
version_added: 1.0.0
description:
  - The first thing to trust a GPU node with - a deep-learning framework in the container the user
    works in sees a CUDA device, and a small computation on it gives the known answer.
  - Runs a short Python program with the image's own Python - in a running O(container)
    (C(docker exec)), in a throwaway container of O(image) (C(docker run --rm --network none),
    through O(runtime) with O(gpus)), or, with neither, with O(python) on the host itself. The
    program imports PyTorch (else TensorFlow), lists the CUDA devices, and computes on the first one
    (else on the CPU) the sum of the squares of 0..65535 in float64 and a 64x64 float32 matrix
    product, both compared with their exact values.
  - Where the GPU does not work and the framework was built for a CUDA version (or the NVIDIA
    runtime refused the image for its C(NVIDIA_REQUIRE_CUDA)), that CUDA version is judged against
    this host's driver with the logic of M(hpcdl.gpu.cuda_compat), and a CUDA newer than the driver
    is reported as such - the versions, NVIDIA's minimum driver and what to do - instead of the
    framework's stack trace.
  - It never changes the host (a container of O(image) is removed when it ends); C(changed) is
    always V(false).
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Changes nothing; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
options:
  container:
    description:
      - A running container to check in (C(docker exec -i)). Mutually exclusive with O(image).
    type: str
  image:
    description:
      - An image on the host to check in a throwaway container (no network, removed afterwards).
        Mutually exclusive with O(container).
    type: str
  python:
    description:
      - The Python that runs the check - inside the container or image, or on the host when neither
        is given (a name on E(PATH) or a path).
    type: str
    default: python3
  engine:
    description: The container engine's command.
    type: str
    choices: [docker, podman]
    default: docker
  runtime:
    description:
      - The runtime a container of O(image) runs with (V(nvidia) for nvidia-container-toolkit's).
        V("") for the engine's default.
    type: str
    default: ""
  gpus:
    description:
      - The GPUs a container of O(image) gets (C(NVIDIA_VISIBLE_DEVICES)) - V(all), indices such as
        V(0,1), or V("") / V(none) for none.
    type: str
    default: all
  require_gpu:
    description:
      - V(true) fails unless a CUDA device is seen and computes right. V(false) accepts the CPU
        (RV(label) then says C(CPU)), and fails only when no framework runs at all or a result is wrong.
    type: bool
    default: true
  framework:
    description: The framework to check; V(auto) tries PyTorch, then TensorFlow.
    type: str
    choices: [auto, torch, tensorflow]
    default: auto
notes:
  - Needs no Python library beyond the standard one on the target; the framework is the image's.
seealso:
  - module: hpcdl.gpu.cuda_compat
'''

EXAMPLES = r'''
- name: Check that PyTorch in the notebook container sees the GPU
  hpcdl.gpu.gpu_framework_check:
    container: hpcdl-jupyter

- name: Check an image through the NVIDIA runtime, accepting the CPU where there is no GPU
  hpcdl.gpu.gpu_framework_check:
    image: quay.io/jupyter/pytorch-notebook:cuda12-2026-08-24
    runtime: nvidia
    gpus: all
    require_gpu: false
  register: framework

- name: Check the host's own Python (a machine with PyTorch installed, no containers)
  hpcdl.gpu.gpu_framework_check:
    python: /opt/torch/.venv/bin/python3
'''

RETURN = r'''
ok:
  description: Whether the check passed (a CUDA device that computes right, or the CPU with O(require_gpu=false)).
  returned: always
  type: bool
  sample: true
label:
  description: V(GPU) when the computation ran on a CUDA device, V(CPU) when on the CPU; V(null) when nothing ran.
  returned: always
  type: str
  sample: GPU
where:
  description: Where the check ran.
  returned: always
  type: str
  sample: container hpcdl-jupyter
command:
  description: The command line that ran the check (its program came on stdin).
  returned: always
  type: list
  elements: str
  sample: [docker, exec, -i, hpcdl-jupyter, python3, "-", auto]
framework:
  description: The framework found (V(torch) or V(tensorflow)); V(null) when none.
  returned: always
  type: str
  sample: torch
framework_version:
  description: Its version.
  returned: always
  type: str
  sample: 2.8.0+cu126
cuda_built:
  description: The CUDA version the framework was built for; V(null) for a CPU build.
  returned: always
  type: str
  sample: "12.6"
cuda_available:
  description: Whether the framework sees a CUDA device.
  returned: always
  type: bool
  sample: true
device_count:
  description: How many CUDA devices it sees.
  returned: always
  type: int
  sample: 2
devices:
  description: Their names.
  returned: always
  type: list
  elements: str
  sample: [NVIDIA H200]
capability:
  description: The first device's compute capability (PyTorch only).
  returned: always
  type: str
  sample: "9.0"
kernel_ok:
  description: Whether both known results came out right.
  returned: always
  type: bool
  sample: true
kernel:
  description: The computed and expected sum of squares, and whether the matrix product was right.
  returned: always
  type: dict
  sample: {sum_of_squares: 93823560581120, expected: 93823560581120, matmul_ok: true}
error:
  description: The last line of the framework's error, when it raised one.
  returned: always
  type: str
  sample: "RuntimeError: CUDA error: no kernel image is available for execution on the device"
compat:
  description:
    - Where the GPU did not work and a CUDA version was known, M(hpcdl.gpu.cuda_compat)'s result for it
      against this host's driver (C(required_cuda), C(compatible), C(messages), C(remediation), ...).
      V(null) otherwise.
  returned: always
  type: dict
msg:
  description: One paragraph a person reads; on a CUDA newer than the driver, cuda_compat's verdict and the fix.
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.gpu_framework import (  # noqa: E402
    ARGUMENT_SPEC,
    run_module,
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[('container', 'image')],
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == '__main__':
    main()

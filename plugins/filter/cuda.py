# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over NVIDIA's minimum-driver table: CUDA -> driver and driver -> CUDA.

Documented in cuda_min_driver.yml and driver_max_cuda.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_table import (
    CudaVersionError,
    max_cuda,
    min_driver,
)


def cuda_min_driver(cuda_version):
    """Minimum Linux x86_64 NVIDIA driver for a CUDA version: ``'8.0' | cuda_min_driver``."""
    try:
        return min_driver(to_text(cuda_version))
    except CudaVersionError as exc:
        raise AnsibleFilterError('cuda_min_driver: %s' % exc) from exc


def driver_max_cuda(driver_version):
    """Newest CUDA (major.minor) an NVIDIA driver runs: ``'535.261.03' | driver_max_cuda``."""
    try:
        cuda = max_cuda(to_text(driver_version))
    except CudaVersionError as exc:
        raise AnsibleFilterError('driver_max_cuda: %s' % exc) from exc
    if cuda is None:
        raise AnsibleFilterError(
            'driver_max_cuda: NVIDIA driver %s is older than every driver in NVIDIA\'s table '
            '(CUDA 7.0 needs 346.46): it runs no CUDA version this collection knows.'
            % driver_version)
    return cuda


class FilterModule(object):
    """CUDA and NVIDIA driver version filters."""

    def filters(self):
        return {
            'cuda_min_driver': cuda_min_driver,
            'driver_max_cuda': driver_max_cuda,
        }

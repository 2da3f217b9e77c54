# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA's minimum-driver table for the CUDA toolkit, and lookups over it.

Pure data and pure functions: no host access. Shared by the ``cuda_compat`` module (on the
target, Python 2.7 and 3.6+) and the ``cuda_min_driver`` / ``driver_max_cuda`` filters (on the
controller).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Source: NVIDIA CUDA Toolkit Release Notes, section "CUDA Driver",
# Table 3 "CUDA Toolkit and Corresponding Driver Versions", column "Linux x86_64 Driver Version",
# https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html#cuda-driver
# Rows 7.0 to 13.2 Update 2 are copied from the CUDA 13.2 Update 2 edition of that table.
# Rows 13.3 GA and 13.3 Update 1 (both >=610.43.02) are from the CUDA 13.3 Update 1 edition.
# Up to CUDA 10.2 the third number is NVIDIA's build number (7.5.16, 8.0.61); from CUDA 11.0 on
# it is the update number (12.4.1 is "CUDA 12.4 Update 1").
# Each row: (version, label in NVIDIA's table, minimum Linux x86_64 driver, first release of its
# major.minor).
CUDA_RELEASES = (
    ('7.0.28', 'CUDA 7.0 (7.0.28)', '346.46', True),
    ('7.5.16', 'CUDA 7.5 (7.5.16)', '352.31', True),
    ('8.0.44', 'CUDA 8.0 (8.0.44)', '367.48', True),
    ('8.0.61', 'CUDA 8.0 (8.0.61 GA2)', '375.26', False),
    ('9.0.76', 'CUDA 9.0 (9.0.76)', '384.81', True),
    ('9.1.85', 'CUDA 9.1 (9.1.85)', '390.46', True),
    ('9.2.88', 'CUDA 9.2 (9.2.88)', '396.26', True),
    ('9.2.148', 'CUDA 9.2 (9.2.148 Update 1)', '396.37', False),
    ('10.0.130', 'CUDA 10.0.130', '410.48', True),
    ('10.1.105', 'CUDA 10.1 (10.1.105 general release, and updates)', '418.39', True),
    ('10.2.89', 'CUDA 10.2.89', '440.33', True),
    ('11.0.1', 'CUDA 11.0.1 RC', '450.36.06', False),
    ('11.0.2', 'CUDA 11.0.2 GA', '450.51.05', True),
    ('11.0.3', 'CUDA 11.0.3 Update 1', '450.51.06', False),
    ('11.1.0', 'CUDA 11.1 GA', '455.23', True),
    ('11.1.1', 'CUDA 11.1.1 Update 1', '455.32', False),
    ('11.2.0', 'CUDA 11.2.0 GA', '460.27.03', True),
    ('11.2.1', 'CUDA 11.2.1 Update 1', '460.32.03', False),
    ('11.2.2', 'CUDA 11.2.2 Update 2', '460.32.03', False),
    ('11.3.0', 'CUDA 11.3.0 GA', '465.19.01', True),
    ('11.3.1', 'CUDA 11.3.1 Update 1', '465.19.01', False),
    ('11.4.0', 'CUDA 11.4.0 GA', '470.42.01', True),
    ('11.4.1', 'CUDA 11.4 Update 1', '470.57.02', False),
    ('11.4.2', 'CUDA 11.4 Update 2', '470.57.02', False),
    ('11.4.3', 'CUDA 11.4 Update 3', '470.82.01', False),
    ('11.4.4', 'CUDA 11.4 Update 4', '470.82.01', False),
    ('11.5.0', 'CUDA 11.5 GA', '495.29.05', True),
    ('11.5.1', 'CUDA 11.5 Update 1', '495.29.05', False),
    ('11.5.2', 'CUDA 11.5 Update 2', '495.29.05', False),
    ('11.6.0', 'CUDA 11.6 GA', '510.39.01', True),
    ('11.6.1', 'CUDA 11.6 Update 1', '510.47.03', False),
    ('11.6.2', 'CUDA 11.6 Update 2', '510.47.03', False),
    ('11.7.0', 'CUDA 11.7 GA', '515.43.04', True),
    ('11.7.1', 'CUDA 11.7 Update 1', '515.48.07', False),
    ('11.8.0', 'CUDA 11.8 GA', '520.61.05', True),
    ('12.0.0', 'CUDA 12.0 GA', '525.60.13', True),
    ('12.0.1', 'CUDA 12.0 Update 1', '525.85.12', False),
    ('12.1.0', 'CUDA 12.1 GA', '530.30.02', True),
    ('12.1.1', 'CUDA 12.1 Update 1', '530.30.02', False),
    ('12.2.0', 'CUDA 12.2 GA', '535.54.03', True),
    ('12.2.1', 'CUDA 12.2 Update 1', '535.86.09', False),
    ('12.2.2', 'CUDA 12.2 Update 2', '535.104.05', False),
    ('12.3.0', 'CUDA 12.3 GA', '545.23.06', True),
    ('12.3.1', 'CUDA 12.3 Update 1', '545.23.08', False),
    ('12.4.0', 'CUDA 12.4 GA', '550.54.14', True),
    ('12.4.1', 'CUDA 12.4 Update 1', '550.54.15', False),
    ('12.5.0', 'CUDA 12.5 GA', '555.42.02', True),
    ('12.5.1', 'CUDA 12.5 Update 1', '555.42.06', False),
    ('12.6.0', 'CUDA 12.6 GA', '560.28.03', True),
    ('12.6.1', 'CUDA 12.6 Update 1', '560.35.03', False),
    ('12.6.2', 'CUDA 12.6 Update 2', '560.35.03', False),
    ('12.6.3', 'CUDA 12.6 Update 3', '560.35.05', False),
    ('12.8.0', 'CUDA 12.8 GA', '570.26', True),
    ('12.8.1', 'CUDA 12.8 Update 1', '570.124.06', False),
    ('12.9.0', 'CUDA 12.9 GA', '575.51.03', True),
    ('12.9.1', 'CUDA 12.9 Update 1', '575.57.08', False),
    ('13.0.0', 'CUDA 13.0 GA', '580.65.06', True),
    ('13.0.1', 'CUDA 13.0 Update 1', '580.82.07', False),
    ('13.0.2', 'CUDA 13.0 Update 2', '580.95.05', False),
    ('13.1.0', 'CUDA 13.1 GA', '590.44.01', True),
    ('13.1.1', 'CUDA 13.1 Update 1', '590.48.01', False),
    ('13.2.0', 'CUDA 13.2 GA', '595.45.04', True),
    ('13.2.1', 'CUDA 13.2 Update 1', '595.58.03', False),
    ('13.2.2', 'CUDA 13.2 Update 2', '595.71.05', False),
    ('13.3.0', 'CUDA 13.3 GA', '610.43.02', True),
    ('13.3.1', 'CUDA 13.3 Update 1', '610.43.02', False),
)

# Source: the same release notes, Table 2 "CUDA Toolkit and Minimum Required Driver Version for
# CUDA Minor Version Compatibility" (11.x >= 450 with the footnote's 450.80.02, 12.x >= 525,
# 13.x >= 580), and https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html
# CUDA 10.x and older have no minor version compatibility.
MINOR_VERSION_FLOORS = {
    11: '450.80.02',
    12: '525.60.13',
    13: '580',
}

TABLE_SOURCE = ('NVIDIA CUDA Toolkit Release Notes, Table 3 "CUDA Toolkit and Corresponding '
                'Driver Versions" (Linux x86_64)')

_CUDA_VERSION_RE = re.compile(r'^\s*(\d+)\.(\d+)(?:\.(\d+))?\s*$')
_DRIVER_VERSION_RE = re.compile(r'^\s*\d+(?:\.\d+){0,3}\s*$')


class CudaVersionError(ValueError):
    """A CUDA or driver version that is malformed or not in NVIDIA's table."""


class CudaRelease(object):
    """One row of NVIDIA's table."""

    def __init__(self, version, label, min_driver, first_of_minor):
        self.version = version
        self.label = label
        self.min_driver = min_driver
        self.first_of_minor = first_of_minor
        self.key = tuple(int(part) for part in version.split('.'))
        self.major = self.key[0]
        self.minor = self.key[1]

    @property
    def short(self):
        """major.minor, the way nvidia-smi and NVML print a CUDA version."""
        return '%d.%d' % (self.major, self.minor)

    @property
    def name(self):
        """How a person names this release: 8.0, 8.0.61, 12.4, 12.4.1."""
        if self.first_of_minor:
            return self.short
        return self.version

    def __repr__(self):
        return 'CudaRelease(%r, min_driver=%r)' % (self.version, self.min_driver)


RELEASES = tuple(CudaRelease(*row) for row in CUDA_RELEASES)


def driver_key(version):
    """Turn a driver version such as ``535.104.05`` into a comparable tuple of integers."""
    if version is None or not _DRIVER_VERSION_RE.match(str(version)):
        raise CudaVersionError(
            'NVIDIA driver version %r is not of the form 535.104.05: pass the version that '
            'nvidia-smi or /proc/driver/nvidia/version prints.' % (version,))
    return tuple(int(part) for part in str(version).strip().split('.'))


def driver_at_least(version, minimum):
    """True when driver ``version`` is ``minimum`` or newer."""
    return driver_key(version) >= driver_key(minimum)


def parse_cuda_version(version):
    """Split ``8.0`` / ``8.0.61`` into (major, minor, patch or None); raise CudaVersionError."""
    match = _CUDA_VERSION_RE.match(str(version)) if version is not None else None
    if not match:
        raise CudaVersionError(
            'CUDA version %r is not of the form 12.2 or 8.0.61: pass the toolkit version as '
            'major.minor or major.minor.patch.' % (version,))
    major, minor, patch = match.groups()
    return int(major), int(minor), (int(patch) if patch is not None else None)


def _names(releases):
    names = []
    for release in releases:
        if release.first_of_minor and release.major <= 10:
            names.append('%s (%s)' % (release.short, release.version))
        else:
            names.append(release.name)
    return ', '.join(names)


def find_release(version, lenient=False):
    """The table row a CUDA version stands for.

    ``major.minor`` means that minor release's first (GA) row. A full version must be a row of
    the table; for CUDA 10.x and older the third number is a build number, so a build between
    two rows (9.0.176, 10.1.243) means the newest row at or below it. ``lenient`` (for versions
    read from images and toolkits, whose third number can be a component build such as 12.4.131)
    falls back to the GA row of the same minor release instead of failing.
    """
    major, minor, patch = parse_cuda_version(version)
    same_major = [r for r in RELEASES if r.major == major]
    same_minor = [r for r in same_major if r.minor == minor]
    if not same_minor:
        if same_major:
            raise CudaVersionError(
                'CUDA %s is not a release in NVIDIA\'s minimum-driver table: the known CUDA %d '
                'releases are %s.' % (version, major, _names(same_major)))
        raise CudaVersionError(
            'CUDA %s is not a release in NVIDIA\'s minimum-driver table, which lists CUDA %s to '
            '%s: pass one of its versions, for example %s.'
            % (version, RELEASES[0].name, RELEASES[-1].name, RELEASES[-1].short))
    first = [r for r in same_minor if r.first_of_minor][0]
    if patch is None:
        return first
    for release in same_minor:
        if release.key == (major, minor, patch):
            return release
    if major <= 10:
        at_or_below = [r for r in same_minor if r.key[2] <= patch]
        return at_or_below[-1] if at_or_below else first
    if lenient:
        return first
    raise CudaVersionError(
        'CUDA %s is not a release in NVIDIA\'s minimum-driver table (from CUDA 11 on the third '
        'number is the update, 12.4.1 is 12.4 Update 1): the known CUDA %d.%d releases are %s.'
        % (version, major, minor, _names(same_minor)))


def min_driver(version, lenient=False):
    """Minimum Linux x86_64 driver for a CUDA version (``8.0`` -> ``367.48``)."""
    return find_release(version, lenient=lenient).min_driver


def newest_release_for_driver(driver_version):
    """The newest table row whose minimum driver is ``driver_version`` or older; None if none."""
    key = driver_key(driver_version)
    best = None
    for release in RELEASES:
        if driver_key(release.min_driver) <= key:
            best = release
    return best


def max_cuda(driver_version):
    """Newest CUDA (major.minor) a driver runs according to the table; None below CUDA 7.0."""
    release = newest_release_for_driver(driver_version)
    return release.short if release is not None else None


def minor_version_floor(major):
    """Minimum driver for minor version compatibility within a CUDA major; None before 11."""
    return MINOR_VERSION_FLOORS.get(major)


def cuda_from_int(value):
    """NVML / cuDriverGetVersion encode CUDA 12.2 as 12020; return ``'12.2'``."""
    value = int(value)
    if value <= 0:
        return None
    return '%d.%d' % (value // 1000, (value % 1000) // 10)


def cuda_key(version):
    """Comparable key of a CUDA version string ``12.2`` / ``12.2.1``."""
    major, minor, patch = parse_cuda_version(version)
    return (major, minor, patch or 0)

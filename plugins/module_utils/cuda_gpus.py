# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA GPU generations: which PCI device is which chip and architecture, and what each
architecture needs of the driver (branch, kernel module flavour) and of CUDA.

Pure data and pure functions: no host access (the probes are in ``cuda_probe``). Shared by the
``cuda_compat`` module (on the target, Python 2.7 and 3.6+) and the cuda role's filters.

How a device becomes an architecture
------------------------------------
By PCI device id ranges, one range per chip. NVIDIA publishes no chip-to-id rule, but it hands
out device ids in blocks per chip, and the PCI ID Repository (pci.ids, https://pci-ids.ucw.cz)
names the chip of every id it lists (``17fd  GM200GL [Tesla M40]``). Each range below runs from
the first to the last id that pci.ids (version 2025.06.09, as Debian trixie ships it) lists as a
GPU of that chip in that block: ids between the two that pci.ids does not list are taken as the
same chip (that is the inference), ids outside every range are unknown and the module says so
rather than guessing. Ranges rather than an explicit list because a new SKU of a known chip (an
H200 variant) usually lands inside its chip's block, and because the table stays short enough to
read; tests/unit/plugins/module_utils/test_cuda_gpus.py checks every GPU id of that pci.ids
(tests/unit/fixtures/cuda_compat/pci.ids_nvidia_2025.06.09.txt) against it, and NVIDIA's own
list of Turing-and-later ids (the open GPU kernel modules' README) for the ids recorded there.
Engineering-only ids (FPGA, "GB6" samples) and chips pci.ids names without a product (GB110,
GB120) are left out: unknown, not guessed.

What each architecture needs: the sources
-----------------------------------------
- Last driver branch: NVIDIA's legacy GPU list (https://www.nvidia.com/en-us/drivers/unix/legacy-gpu/)
  and the driver README's appendix "Supported NVIDIA GPU Products" of each branch: Fermi ends
  with R390, Kepler with R470; Maxwell, Pascal and Volta with R580 (NVIDIA's "Unix Graphics
  Feature Deprecation Schedule" announcement: the 580 release series is the last to support
  them; branches after it drop them).
- First driver branch: the first CUDA release that targets the compute capability (CUDA Toolkit
  Release Notes of that release: sm_60/61 in 8.0, sm_70 in 9.0, sm_75 in 10.0, sm_80 in 11.0,
  sm_86 in 11.1, sm_89 and sm_90 in 11.8, sm_100 and sm_120 in 12.8, sm_103 in 12.9), and that
  release's minimum driver in cuda_table (Table 3). It is a floor for the architecture: a SKU
  released later than its chip (the H200 after the H100) may need a later branch, which this
  table does not know. Maxwell and older predate the table (CUDA 7.0, driver 346): no floor.
- Kernel module flavour: the open GPU kernel modules README, "Compatible GPUs" ("can be used on
  any Turing or later GPU"), and NVIDIA's "NVIDIA Transitions Fully Towards Open-Source GPU
  Kernel Modules" (July 2024): Grace Hopper and Blackwell must use the open modules (the
  proprietary ones are unsupported there); Turing, Ampere, Ada and Hopper: open recommended;
  Maxwell, Pascal, Volta (and older): proprietary only; a host that mixes the two kinds keeps the
  proprietary modules, which leaves no flavour for old GPUs together with Blackwell. The open
  modules first shipped with R515 (the repository's first release, 515.43.04).
- Newest CUDA that builds for a compute capability: CUDA 9.0 release notes (Fermi, sm_2x,
  removed), CUDA 11.0 (sm_30/sm_32 removed), CUDA 12.0 (Kepler sm_35/sm_37 removed), CUDA 13.0
  (Maxwell, Pascal and Volta, sm_50 to sm_72, removed). A program built with a newer CUDA has
  no code for the GPU (PTX does not run on an older architecture).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_table import (
    cuda_key,
    driver_key,
    min_driver,
)

NVIDIA_VENDOR = 0x10de
# PCI class codes (PCI Code and ID Assignment Specification): base class 0x03 is a display
# controller (0x0300 VGA compatible, 0x0302 3D controller: NVIDIA's compute GPUs, 0x0380 other).
DISPLAY_CLASS = 0x03
# NVSwitch: NVIDIA's nvswitch driver binds every NVIDIA device of class 0x068000 (bridge,
# other): open-gpu-kernel-modules, kernel-open/nvidia/linux_nvswitch.c, nvswitch_pci_table
# (PCI_VENDOR_ID_NVIDIA, PCI_ANY_ID, class PCI_CLASS_BRIDGE_OTHER << 8, class_mask ~0).
NVSWITCH_CLASS = 0x068000
# NVSwitch ids pci.ids names (for the report; detection is by class): 1af1 GA100 [A100 NVSwitch]
# (HGX A100), 22a3 GH100 [H100 NVSwitch] (HGX H100/H200).
NVSWITCH_NAMES = {0x1af1: 'A100 NVSwitch', 0x22a3: 'H100 NVSwitch'}

OPEN_REQUIRED = 'required'
OPEN_RECOMMENDED = 'recommended'
OPEN_UNSUPPORTED = 'unsupported'
OPEN_FIRST_BRANCH = 515

# Architecture: (label, last driver branch or None, open kernel module).
ARCHITECTURES = {
    'fermi': ('Fermi', 390, OPEN_UNSUPPORTED),
    'kepler': ('Kepler', 470, OPEN_UNSUPPORTED),
    'maxwell': ('Maxwell', 580, OPEN_UNSUPPORTED),
    'pascal': ('Pascal', 580, OPEN_UNSUPPORTED),
    'volta': ('Volta', 580, OPEN_UNSUPPORTED),
    'turing': ('Turing', None, OPEN_RECOMMENDED),
    'ampere': ('Ampere', None, OPEN_RECOMMENDED),
    'ada': ('Ada Lovelace', None, OPEN_RECOMMENDED),
    'hopper': ('Hopper', None, OPEN_RECOMMENDED),
    'blackwell': ('Blackwell', None, OPEN_REQUIRED),
}
ARCHITECTURE_ORDER = ('fermi', 'kepler', 'maxwell', 'pascal', 'volta', 'turing', 'ampere', 'ada',
                      'hopper', 'blackwell')

# Compute capability -> the first CUDA release that targets it (see the module docstring).
FIRST_CUDA = {
    '6.0': '8.0', '6.1': '8.0', '7.0': '9.0', '7.5': '10.0', '8.0': '11.0', '8.6': '11.1',
    '8.9': '11.8', '9.0': '11.8', '10.0': '12.8', '10.3': '12.9', '12.0': '12.8',
}


def last_cuda_major(capability):
    """The newest CUDA major release that builds for a compute capability (None: all so far)."""
    major, minor = (int(part) for part in capability.split('.'))
    if major < 3:
        return 8     # CUDA 9.0 removed Fermi
    if (major, minor) < (3, 5):
        return 10    # CUDA 11.0 removed sm_30 and sm_32
    if major < 5:
        return 11    # CUDA 12.0 removed sm_35 and sm_37
    if (major, minor) < (7, 5):
        return 12    # CUDA 13.0 removed sm_50 to sm_72
    return None


# (first id, last id, chip, architecture, compute capability), sorted, not overlapping. The
# blocks pci.ids 2025.06.09 lists (module docstring); GH200's ids apart, as Grace Hopper needs
# the open kernel module.
CHIPS = (
    (0x06c0, 0x06df, 'GF100', 'fermi', '2.0'),
    (0x0dc0, 0x0dda, 'GF106', 'fermi', '2.1'),
    (0x0de0, 0x0dfc, 'GF108', 'fermi', '2.1'),
    (0x0e22, 0x0e3b, 'GF104', 'fermi', '2.1'),
    (0x0f00, 0x0f06, 'GF108', 'fermi', '2.1'),
    (0x0fc0, 0x0fff, 'GK107', 'kepler', '3.0'),
    (0x1001, 0x1023, 'GK110', 'kepler', '3.5'),
    (0x1024, 0x1024, 'GK180', 'kepler', '3.5'),
    (0x1026, 0x102a, 'GK110', 'kepler', '3.5'),
    (0x102d, 0x102d, 'GK210', 'kepler', '3.7'),
    (0x102e, 0x103f, 'GK110', 'kepler', '3.5'),
    (0x1040, 0x107d, 'GF119', 'fermi', '2.1'),
    (0x1080, 0x1096, 'GF110', 'fermi', '2.0'),
    (0x109a, 0x109b, 'GF100', 'fermi', '2.0'),
    (0x1140, 0x1140, 'GF117', 'fermi', '2.1'),
    (0x1180, 0x11bf, 'GK104', 'kepler', '3.0'),
    (0x11c0, 0x11ff, 'GK106', 'kepler', '3.0'),
    (0x1200, 0x1213, 'GF114', 'fermi', '2.1'),
    (0x1241, 0x1251, 'GF116', 'fermi', '2.1'),
    (0x1280, 0x12ba, 'GK208', 'kepler', '3.5'),
    (0x1340, 0x137d, 'GM108', 'maxwell', '5.0'),
    (0x1380, 0x139d, 'GM107', 'maxwell', '5.0'),
    (0x13ad, 0x13ae, 'GM204', 'maxwell', '5.2'),
    (0x13b0, 0x13bd, 'GM107', 'maxwell', '5.0'),
    (0x13be, 0x13fb, 'GM204', 'maxwell', '5.2'),
    (0x1401, 0x1436, 'GM206', 'maxwell', '5.2'),
    (0x15c2, 0x15ff, 'GP100', 'pascal', '6.0'),
    (0x1617, 0x1667, 'GM204', 'maxwell', '5.2'),
    (0x1725, 0x172f, 'GP100', 'pascal', '6.0'),
    (0x174d, 0x174e, 'GM108', 'maxwell', '5.0'),
    (0x1789, 0x179c, 'GM107', 'maxwell', '5.0'),
    (0x17c2, 0x17fd, 'GM200', 'maxwell', '5.2'),
    (0x1b00, 0x1b78, 'GP102', 'pascal', '6.1'),
    (0x1b80, 0x1be1, 'GP104', 'pascal', '6.1'),
    (0x1c00, 0x1c70, 'GP106', 'pascal', '6.1'),
    (0x1c81, 0x1cfb, 'GP107', 'pascal', '6.1'),
    (0x1d01, 0x1d56, 'GP108', 'pascal', '6.1'),
    (0x1d81, 0x1df6, 'GV100', 'volta', '7.0'),
    (0x1e02, 0x1e78, 'TU102', 'turing', '7.5'),
    (0x1e81, 0x1ef5, 'TU104', 'turing', '7.5'),
    (0x1f02, 0x1f76, 'TU106', 'turing', '7.5'),
    (0x1f81, 0x1ff9, 'TU117', 'turing', '7.5'),
    (0x2080, 0x20ff, 'GA100', 'ampere', '8.0'),
    (0x2182, 0x21d1, 'TU116', 'turing', '7.5'),
    (0x2200, 0x223f, 'GA102', 'ampere', '8.6'),
    (0x2302, 0x2341, 'GH100', 'hopper', '9.0'),
    (0x2342, 0x2342, 'GH100 (GH200 Grace Hopper)', 'hopper', '9.0'),
    (0x2343, 0x2347, 'GH100', 'hopper', '9.0'),
    (0x2348, 0x2348, 'GH100 (GH200 Grace Hopper)', 'hopper', '9.0'),
    (0x2349, 0x23f0, 'GH100', 'hopper', '9.0'),
    (0x2414, 0x2460, 'GA103', 'ampere', '8.6'),
    (0x2480, 0x24fa, 'GA104', 'ampere', '8.6'),
    (0x2501, 0x2571, 'GA106', 'ampere', '8.6'),
    (0x2582, 0x25fb, 'GA107', 'ampere', '8.6'),
    (0x2681, 0x26f5, 'AD102', 'ada', '8.9'),
    (0x2702, 0x2770, 'AD103', 'ada', '8.9'),
    (0x2782, 0x27fb, 'AD104', 'ada', '8.9'),
    (0x2803, 0x2878, 'AD106', 'ada', '8.9'),
    (0x2882, 0x28f8, 'AD107', 'ada', '8.9'),
    (0x2900, 0x297e, 'GB100', 'blackwell', '10.0'),
    (0x2980, 0x29f1, 'GB102', 'blackwell', '10.0'),
    (0x2b85, 0x2bb5, 'GB202', 'blackwell', '12.0'),
    (0x2c02, 0x2c19, 'GB203', 'blackwell', '12.0'),
    (0x2c38, 0x2c59, 'GB203', 'blackwell', '12.0'),
    (0x2d04, 0x2d19, 'GB206', 'blackwell', '12.0'),
    (0x2d39, 0x2d59, 'GB206', 'blackwell', '12.0'),
    (0x2d98, 0x2dd8, 'GB207', 'blackwell', '12.0'),
    (0x2f04, 0x2f58, 'GB205', 'blackwell', '12.0'),
)

# Product names of the data center GPUs people rent, as pci.ids names them (NVML's name
# replaces these where the driver answers).
PRODUCT_NAMES = {
    0x102d: 'Tesla K80',
    0x17fd: 'Tesla M40',
    0x15f8: 'Tesla P100 PCIe 16GB',
    0x1b38: 'Tesla P40',
    0x1bb3: 'Tesla P4',
    0x1db1: 'Tesla V100 SXM2 16GB',
    0x1db4: 'Tesla V100 PCIe 16GB',
    0x1db5: 'Tesla V100 SXM2 32GB',
    0x1eb8: 'Tesla T4',
    0x20b0: 'A100 SXM4 40GB',
    0x20b2: 'A100 SXM4 80GB',
    0x20b5: 'A100 PCIe 80GB',
    0x2236: 'A10',
    0x2237: 'A10G',
    0x26b5: 'L40',
    0x26b9: 'L40S',
    0x27b8: 'L4',
    0x2330: 'H100 SXM5 80GB',
    0x2331: 'H100 PCIe',
    0x2335: 'H200 SXM 141GB',
    0x233b: 'H200 NVL',
    0x2342: 'GH200 120GB / 480GB',
    0x2901: 'B200',
    0x2b85: 'GeForce RTX 5090',
}


def chip_for_device(device_id):
    """{'chip', 'architecture', 'compute_capability'} of an NVIDIA PCI device id; None if unknown."""
    for first, last, chip, architecture, capability in CHIPS:
        if first <= device_id <= last:
            return {'chip': chip, 'architecture': architecture, 'compute_capability': capability}
    return None


def architecture_label(architecture):
    return ARCHITECTURES[architecture][0]


def last_branch(architecture):
    return ARCHITECTURES[architecture][1]


def open_support(gpu):
    """required, recommended or unsupported, for one GPU (Grace Hopper needs the open module)."""
    if 'Grace Hopper' in (gpu.get('chip') or ''):
        return OPEN_REQUIRED
    return ARCHITECTURES[gpu['architecture']][2]


def first_branch(capability):
    """The first driver branch for a compute capability (see the module docstring); None if
    the capability predates NVIDIA's minimum-driver table."""
    cuda = FIRST_CUDA.get(capability)
    if cuda is None:
        return None, None
    return int(min_driver(cuda).split('.')[0]), cuda


def describe(gpu):
    """How a sentence names a GPU: 'Tesla M40 (GM200, Maxwell, compute capability 5.2)'."""
    name = gpu.get('name') or 'NVIDIA GPU 0x%04x' % gpu['device_id']
    if not gpu.get('architecture'):
        return '%s (PCI device id 0x%04x, not in this module\'s GPU table)' % (name, gpu['device_id'])
    return '%s (%s, %s, compute capability %s)' % (
        name, gpu['chip'], architecture_label(gpu['architecture']), gpu['compute_capability'])


def branch_of(driver):
    """535.104.05 -> 535."""
    return driver_key(driver)[0]


def group(gpus):
    """The known GPUs, one per (device id, name): a host with eight H200 is named once."""
    seen, unique = set(), []
    for gpu in gpus:
        key = (gpu['device_id'], gpu.get('name'))
        if gpu.get('architecture') and key not in seen:
            seen.add(key)
            unique.append(gpu)
    return unique


def count_prefix(gpus, gpu):
    """'8 x ' when a GPU is there eight times, '' once."""
    number = len([g for g in gpus if (g['device_id'], g.get('name')) ==
                  (gpu['device_id'], gpu.get('name'))])
    return '%d x ' % number if number > 1 else ''


def recommended_flavour(gpus):
    """(flavour or None, reason): the kernel module flavour for all these GPUs together."""
    known = group(gpus)
    if not known:
        return None, 'no NVIDIA GPU of a known generation was found'
    needs_open = [g for g in known if open_support(g) == OPEN_REQUIRED]
    no_open = [g for g in known if open_support(g) == OPEN_UNSUPPORTED]
    if needs_open and no_open:
        return None, (
            '%s needs the open kernel module and %s runs only with the proprietary one: no '
            'driver flavour runs both' % (describe(needs_open[0]), describe(no_open[0])))
    if no_open:
        return 'proprietary', (
            '%s runs only with the proprietary kernel module (the open one supports Turing and '
            'later)' % describe(no_open[0]))
    if needs_open:
        return 'open', '%s needs the open kernel module' % describe(needs_open[0])
    return 'open', ('NVIDIA recommends the open kernel module from Turing on, as for %s'
                    % describe(known[0]))


def supported_flavours(gpus):
    """The kernel module flavours that drive every known GPU here: ['open', 'proprietary'] from
    Turing to Hopper, ['proprietary'] for older GPUs, ['open'] for Blackwell and Grace Hopper,
    [] when old and those are mixed; None without a known GPU."""
    known = group(gpus)
    if not known:
        return None
    flavours = ['open', 'proprietary']
    for gpu in known:
        support = open_support(gpu)
        if support == OPEN_UNSUPPORTED and 'open' in flavours:
            flavours.remove('open')
        if support == OPEN_REQUIRED and 'proprietary' in flavours:
            flavours.remove('proprietary')
    return flavours


def branch_limits(gpus):
    """(first, last): the oldest driver branch that drives every known GPU (None: no floor in
    the table) and the newest (None: no legacy GPU here)."""
    firsts = [first_branch(g['compute_capability'])[0] for g in group(gpus)]
    lasts = [last_branch(g['architecture']) for g in group(gpus)]
    firsts = [value for value in firsts if value is not None]
    lasts = [value for value in lasts if value is not None]
    return (max(firsts) if firsts else None), (min(lasts) if lasts else None)


def driver_problems(gpus, driver, flavour, planned):
    """What keeps ``driver`` (a version) with kernel module ``flavour`` (open, proprietary or
    None) from running these GPUs: a list of (sentence, fix), the worst first."""
    problems = []
    if not driver:
        return problems
    branch = branch_of(driver)
    what = ('The planned driver %s' % driver) if planned else ('The driver %s' % driver)
    for gpu in group(gpus):
        arch = gpu['architecture']
        label = architecture_label(arch)
        count = count_prefix(gpus, gpu)
        last = last_branch(arch)
        if last is not None and branch > last:
            problems.append((
                '%s (branch R%d) does not support %s%s: NVIDIA\'s last driver branch for %s '
                'GPUs is R%d, so the kernel module finds no GPU it can drive.'
                % (what, branch, count, describe(gpu), label, last),
                'Install an R%d driver (the branch package, for example cuda-drivers-%d) instead '
                'of a newer branch.' % (last, last)))
            continue
        first, cuda = first_branch(gpu['compute_capability'])
        if first is not None and branch < first:
            problems.append((
                '%s (branch R%d) is older than %s%s: compute capability %s came with CUDA %s, '
                'whose driver branch is R%d.'
                % (what, branch, count, describe(gpu), gpu['compute_capability'], cuda, first),
                'Install a driver of branch R%d or newer.' % first))
            continue
        support = open_support(gpu)
        if flavour == 'open' and support == OPEN_UNSUPPORTED:
            problems.append((
                '%s uses the open kernel module, which does not support %s%s: NVIDIA\'s open '
                'GPU kernel modules run on Turing and later GPUs only.'
                % (what, count, describe(gpu)),
                'Install the proprietary kernel module flavour of the driver (cuda-drivers, '
                'not nvidia-open).'))
        elif flavour == 'proprietary' and support == OPEN_REQUIRED:
            problems.append((
                '%s uses the proprietary kernel module, which does not support %s%s: NVIDIA '
                'supports %s only with the open GPU kernel modules.'
                % (what, count, describe(gpu), 'Grace Hopper' if 'Grace' in gpu['chip'] else label),
                'Install the open kernel module flavour of the driver (nvidia-open).'))
        elif flavour == 'open' and branch < OPEN_FIRST_BRANCH:
            problems.append((
                '%s (branch R%d) has no open kernel module: NVIDIA\'s open GPU kernel modules '
                'first shipped with R%d.' % (what, branch, OPEN_FIRST_BRANCH),
                'Install a driver of branch R%d or newer, or its proprietary flavour.'
                % OPEN_FIRST_BRANCH))
    return problems


def flavour_notes(gpus, flavour):
    """Sentences that are advice, not problems (the proprietary module where open is advised)."""
    if flavour != 'proprietary':
        return []
    advised = [g for g in group(gpus) if open_support(g) == OPEN_RECOMMENDED]
    if not advised or any(open_support(g) == OPEN_UNSUPPORTED for g in group(gpus)):
        return []
    return ['NVIDIA recommends the open kernel module from Turing on, as for %s; the proprietary '
            'one still supports it.' % describe(advised[0])]


def cuda_problems(gpus, cuda):
    """(sentence, fix) for each GPU that CUDA ``cuda`` (major.minor...) builds no code for."""
    problems = []
    major = cuda_key(cuda)[0]
    for gpu in group(gpus):
        last = last_cuda_major(gpu['compute_capability'])
        if last is not None and major > last:
            problems.append((
                'CUDA %s does not build code for %s%s: CUDA %d is the last major release that '
                'supports compute capability %s, so a CUDA %s program has no kernel that runs on '
                'it.' % (cuda, count_prefix(gpus, gpu), describe(gpu), last,
                         gpu['compute_capability'], cuda),
                'Use a toolkit or image built for CUDA %d.x or older.' % last))
    return problems

"""The GPU generation table (cuda_gpus): which device is which chip, and every boundary it encodes."""
import re
from pathlib import Path

import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils import cuda_gpus, cuda_probe
from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_gpus import (
    CHIPS,
    chip_for_device,
    cuda_problems,
    driver_problems,
    first_branch,
    last_cuda_major,
    recommended_flavour,
)

PCI_IDS = Path(__file__).resolve().parents[2] / "fixtures" / "cuda_compat" / "pci.ids_nvidia_2025.06.09.txt"
CODENAMES = {"GF": "fermi", "GK": "kepler", "GM": "maxwell", "GP": "pascal", "GV": "volta", "TU": "turing",
             "GA": "ampere", "AD": "ada", "GH": "hopper", "GB": "blackwell"}
NOT_A_GPU = re.compile(r"audio|usb|ucsi|nvswitch|serial bus|i2c|hdmi", re.I)


def gpu(device_id, name=None):
    entry = {"device_id": device_id, "name": name or cuda_gpus.PRODUCT_NAMES.get(device_id)}
    entry.update(chip_for_device(device_id) or {"chip": None, "architecture": None, "compute_capability": None})
    return entry


def pci_ids_gpus():
    """(id, chip codename, line) of every GPU function pci.ids names by its chip."""
    found = []
    for line in PCI_IDS.read_text().splitlines():
        match = re.match(r"^([0-9a-f]{4})  ((GF|GK|GM|GP|GV|TU|GA|AD|GH|GB)\d+)", line)
        if match and not NOT_A_GPU.search(line):
            found.append((int(match.group(1), 16), match.group(2), line))
    return found


# --- The table itself -------------------------------------------------------------------------

@pytest.mark.parametrize(("device_id", "chip", "architecture", "capability"), [
    (0x17fd, "GM200", "maxwell", "5.2"),        # Tesla M40, the seed's (Aliyun HPC)
    (0x102d, "GK210", "kepler", "3.7"),         # Tesla K80 (AWS p2)
    (0x2335, "GH100", "hopper", "9.0"),         # H200 SXM 141GB
    (0x2330, "GH100", "hopper", "9.0"),         # H100 SXM5 80GB
    (0x233b, "GH100", "hopper", "9.0"),         # H200 NVL
    (0x2342, "GH100 (GH200 Grace Hopper)", "hopper", "9.0"),
    (0x2901, "GB100", "blackwell", "10.0"),     # B200
    (0x2b85, "GB202", "blackwell", "12.0"),     # GeForce RTX 5090
    (0x1eb8, "TU104", "turing", "7.5"),         # Tesla T4
    (0x20b0, "GA100", "ampere", "8.0"),         # A100 SXM4 40GB
    (0x2236, "GA102", "ampere", "8.6"),         # A10
    (0x27b8, "AD104", "ada", "8.9"),            # L4
    (0x26b9, "AD102", "ada", "8.9"),            # L40S
    (0x1db4, "GV100", "volta", "7.0"),          # Tesla V100 PCIe 16GB
    (0x15f8, "GP100", "pascal", "6.0"),         # Tesla P100 PCIe 16GB
    (0x1b38, "GP102", "pascal", "6.1"),         # Tesla P40
    (0x1091, "GF110", "fermi", "2.0"),          # Tesla M2090
])
def test_known_gpus(device_id, chip, architecture, capability):
    assert chip_for_device(device_id) == {"chip": chip, "architecture": architecture,
                                          "compute_capability": capability}


@pytest.mark.parametrize("device_id", [0x0000, 0x22a3, 0x1af1, 0x3182, 0x31c0, 0xffff, 0x2c2c])
def test_ids_outside_every_range_are_unknown(device_id):
    """NVSwitches, B300 (0x3182, not in that pci.ids), GB110, an engineering sample: not guessed."""
    assert chip_for_device(device_id) is None


def test_ranges_are_sorted_and_do_not_overlap():
    for (_a, last, *_r), (first, *_s) in zip(CHIPS, CHIPS[1:], strict=False):
        assert last < first
    for first, last, _chip, architecture, capability in CHIPS:
        assert first <= last
        assert architecture in cuda_gpus.ARCHITECTURES
        assert re.match(r"^\d+\.\d$", capability)


@pytest.mark.parametrize(("first", "last", "chip", "architecture", "capability"),
                         [pytest.param(*row, id=f"{row[0]:04x}-{row[1]:04x}") for row in CHIPS])
def test_each_range_boundary(first, last, chip, architecture, capability):
    """Both ends belong to the chip; one past either end does not (unless another chip starts there)."""
    assert chip_for_device(first)["chip"] == chip
    assert chip_for_device(last)["chip"] == chip
    for outside in (first - 1, last + 1):
        found = chip_for_device(outside)
        assert found is None or found["chip"] != chip or found["compute_capability"] != capability or \
            (found["architecture"] == architecture and "Grace" in found["chip"] + chip)


@pytest.mark.parametrize(("first", "last", "chip", "architecture", "capability"),
                         [pytest.param(*row, id=f"{row[0]:04x}-{row[1]:04x}") for row in CHIPS])
def test_each_range_starts_and_ends_on_an_id_pci_ids_names_for_that_chip(
        first, last, chip, architecture, capability):
    """No invented block: the ends of every range are GPUs pci.ids lists with that chip's codename,
    or touch the next range of the same chip (GH200's ids inside the GH100 block)."""
    named = {number: codename for number, codename, _line in pci_ids_gpus()}
    base = chip.split()[0]
    starts = {row[0]: row[2].split()[0] for row in CHIPS}
    ends = {row[1]: row[2].split()[0] for row in CHIPS}
    assert named.get(first, "").startswith(base[:4]) or ends.get(first - 1) == base, hex(first)
    assert named.get(last, "").startswith(base[:4]) or starts.get(last + 1) == base, hex(last)


def test_every_gpu_pci_ids_names_is_in_the_table_with_its_architecture():
    mismatched, missing = [], []
    for number, codename, line in pci_ids_gpus():
        expected = CODENAMES[codename[:2]]
        found = chip_for_device(number)
        if found is None:
            missing.append(line)
        elif found["architecture"] != expected:
            mismatched.append((line, found))
    assert mismatched == []
    # Left out on purpose, each named: engineering ids, FPGA and chips pci.ids names without a product.
    assert sorted(missing) == sorted(line for _n, _c, line in pci_ids_gpus() if re.search(
        r"^(0fa[0-7]  GK11x|130b  GK110 \[Q12U-1\]|2c2c  GB6|2d2c  GB6|2e2a  GB20B|31c0  GB110|3340  GB120)", line))


# NVIDIA's own list: the open GPU kernel modules README (560.31.02), "Compatible GPUs" (Turing and later).
OPEN_README_IDS = {0x1e02: "NVIDIA TITAN RTX", 0x1eb8: "Tesla T4", 0x20b0: "NVIDIA A100-PG509-200",
                   0x2236: "NVIDIA A10", 0x2237: "NVIDIA A10G", 0x2321: "NVIDIA H100 NVL",
                   0x2330: "NVIDIA H100 80GB HBM3", 0x2331: "NVIDIA H100 PCIe", 0x2335: "NVIDIA H200",
                   0x2342: "NVIDIA GH200 120GB", 0x26b5: "NVIDIA L40", 0x26b9: "NVIDIA L40S",
                   0x27b8: "NVIDIA L4", 0x2684: "NVIDIA GeForce RTX 4090"}


@pytest.mark.parametrize("device_id", sorted(OPEN_README_IDS))
def test_nvidias_open_module_ids_are_turing_or_later(device_id):
    found = chip_for_device(device_id)
    assert cuda_gpus.ARCHITECTURE_ORDER.index(found["architecture"]) >= cuda_gpus.ARCHITECTURE_ORDER.index("turing")
    assert cuda_gpus.open_support(found) != cuda_gpus.OPEN_UNSUPPORTED


# --- Driver branch boundaries -------------------------------------------------------------------

@pytest.mark.parametrize(("device_id", "good", "bad", "sentence"), [
    (0x102d, "470.256.02", "495.29.05", "NVIDIA's last driver branch for Kepler GPUs is R470"),
    (0x17fd, "580.95.05", "590.44.01", "NVIDIA's last driver branch for Maxwell GPUs is R580"),
    (0x15f8, "580.95.05", "590.44.01", "NVIDIA's last driver branch for Pascal GPUs is R580"),
    (0x1db4, "580.95.05", "590.44.01", "NVIDIA's last driver branch for Volta GPUs is R580"),
    (0x1091, "390.157", "410.48", "NVIDIA's last driver branch for Fermi GPUs is R390"),
])
def test_last_branch(device_id, good, bad, sentence):
    assert driver_problems([gpu(device_id)], good, "proprietary", planned=True) == []
    (problem, fix), = driver_problems([gpu(device_id)], bad, "proprietary", planned=True)
    assert sentence in problem
    branch = re.search(r"R(\d+)$", sentence).group(1)
    assert fix == (f"Install an R{branch} driver (the branch package, for example cuda-drivers-{branch}) "
                   "instead of a newer branch.")


@pytest.mark.parametrize(("device_id", "good", "bad", "first"), [
    (0x15f8, "367.48", "352.93", 367),    # Pascal: CUDA 8.0
    (0x1db4, "384.81", "375.26", 384),    # Volta: CUDA 9.0
    (0x1eb8, "410.48", "396.37", 410),    # Turing: CUDA 10.0
    (0x20b0, "450.51.05", "440.33", 450),  # GA100: CUDA 11.0
    (0x2236, "455.23", "450.80.02", 455),  # GA102: CUDA 11.1
    (0x27b8, "520.61.05", "515.65.01", 520),  # Ada: CUDA 11.8
    (0x2335, "520.61.05", "515.65.01", 520),  # Hopper: CUDA 11.8
    (0x2901, "570.26", "565.57.01", 570),  # Blackwell GB100: CUDA 12.8
])
def test_first_branch(device_id, good, bad, first):
    flavour = "open" if first >= 570 else "proprietary"  # Blackwell needs open; older drivers had none
    assert driver_problems([gpu(device_id)], good, flavour, planned=True) == []
    (problem, fix), = driver_problems([gpu(device_id)], bad, flavour, planned=True)
    assert f"whose driver branch is R{first}." in problem
    assert fix == f"Install a driver of branch R{first} or newer."


def test_maxwell_and_older_have_no_first_branch():
    assert first_branch("5.2") == (None, None)
    assert driver_problems([gpu(0x17fd)], "352.93", "proprietary", planned=False) == []


# --- Kernel module flavour ----------------------------------------------------------------------

def test_open_module_on_maxwell_is_refused():
    (problem, fix), = driver_problems([gpu(0x17fd)], "580.95.05", "open", planned=True)
    assert problem == (
        "The planned driver 580.95.05 uses the open kernel module, which does not support Tesla M40 (GM200, "
        "Maxwell, compute capability 5.2): NVIDIA's open GPU kernel modules run on Turing and later GPUs only.")
    assert fix == "Install the proprietary kernel module flavour of the driver (cuda-drivers, not nvidia-open)."


@pytest.mark.parametrize(("device_id", "what"), [(0x2901, "Blackwell"), (0x2342, "Grace Hopper")])
def test_proprietary_module_where_open_is_required(device_id, what):
    (problem, fix), = driver_problems([gpu(device_id)], "580.95.05", "proprietary", planned=True)
    assert problem.endswith(f"NVIDIA supports {what} only with the open GPU kernel modules.")
    assert fix == "Install the open kernel module flavour of the driver (nvidia-open)."


def test_proprietary_module_on_hopper_runs_with_advice():
    assert driver_problems([gpu(0x2335)], "580.95.05", "proprietary", planned=True) == []
    assert cuda_gpus.flavour_notes([gpu(0x2335)], "proprietary") == [
        "NVIDIA recommends the open kernel module from Turing on, as for H200 SXM 141GB (GH100, Hopper, compute "
        "capability 9.0); the proprietary one still supports it."]


def test_open_module_before_r515():
    assert driver_problems([gpu(0x1eb8)], "515.43.04", "open", planned=True) == []
    (problem, _fix), = driver_problems([gpu(0x1eb8)], "510.47.03", "open", planned=True)
    assert problem.endswith("NVIDIA's open GPU kernel modules first shipped with R515.")


@pytest.mark.parametrize(("device_ids", "flavour", "reason"), [
    ([0x17fd, 0x17fd], "proprietary", "Tesla M40 (GM200, Maxwell, compute capability 5.2) runs only with the "
     "proprietary kernel module (the open one supports Turing and later)"),
    ([0x102d], "proprietary", "Tesla K80 (GK210, Kepler, compute capability 3.7) runs only with the proprietary"),
    ([0x2335] * 8, "open", "NVIDIA recommends the open kernel module from Turing on, as for H200 SXM 141GB"),
    ([0x2901], "open", "B200 (GB100, Blackwell, compute capability 10.0) needs the open kernel module"),
    ([0x1db4, 0x1eb8], "proprietary", "Tesla V100 PCIe 16GB (GV100, Volta"),   # mixed: proprietary
    ([0x17fd, 0x2901], None, "no driver flavour runs both"),
    ([0x3182], None, "no NVIDIA GPU of a known generation was found"),
    ([], None, "no NVIDIA GPU of a known generation was found"),
])
def test_recommended_flavour(device_ids, flavour, reason):
    chosen, why = recommended_flavour([gpu(number) for number in device_ids])
    assert chosen == flavour
    assert reason in why


# --- CUDA's support of the compute capability -----------------------------------------------------

@pytest.mark.parametrize(("capability", "last"), [
    ("2.0", 8), ("2.1", 8), ("3.0", 10), ("3.5", 11), ("3.7", 11), ("5.0", 12), ("5.2", 12), ("6.1", 12),
    ("7.0", 12), ("7.5", None), ("8.0", None), ("9.0", None), ("10.0", None), ("12.0", None),
])
def test_last_cuda_major(capability, last):
    assert last_cuda_major(capability) == last


@pytest.mark.parametrize(("device_id", "good", "bad"), [
    (0x17fd, "12.9", "13.0"),   # Maxwell: CUDA 13.0 removed sm_50 to sm_72
    (0x1db4, "12.9", "13.0"),   # Volta
    (0x102d, "11.8", "12.0"),   # Kepler GK210: CUDA 12.0 removed sm_35/sm_37
    (0x0fc6, "10.2", "11.0"),   # Kepler GK107 (3.0): CUDA 11.0 removed sm_30
    (0x1091, "8.0", "9.0"),     # Fermi: CUDA 9.0 removed sm_2x
])
def test_cuda_that_no_longer_builds_for_the_gpu(device_id, good, bad):
    assert cuda_problems([gpu(device_id)], good) == []
    (problem, fix), = cuda_problems([gpu(device_id)], bad)
    last = good.split(".")[0]
    assert f"CUDA {last} is the last major release that supports compute capability" in problem
    assert fix == f"Use a toolkit or image built for CUDA {last}.x or older."


def test_cuda_13_runs_on_turing_and_later():
    assert cuda_problems([gpu(0x1eb8), gpu(0x2335), gpu(0x2901)], "13.0") == []


# --- The probes over a recorded sysfs tree ---------------------------------------------------------

def test_read_pci_devices_keeps_nvidia_functions_only(fakes, tmp_path):
    root = fakes.materialise_host("m40_aliyun", tmp_path / "host")
    devices = root / "sys" / "bus" / "pci" / "devices"
    audio = devices / "0000:04:00.1"   # a GPU's HDMI audio function: NVIDIA, but class 0x0403
    audio.mkdir()
    for name, value in (("vendor", "0x10de"), ("device", "0x0fb0"), ("class", "0x040300")):
        (audio / name).write_text(value + "\n")
    found, problems = cuda_probe.read_pci_devices(str(devices))
    assert problems == []
    assert found == [
        {"address": "0000:04:00.0", "device_id": 0x17fd, "class": 0x030200},
        {"address": "0000:04:00.1", "device_id": 0x0fb0, "class": 0x040300},
        {"address": "0000:05:00.0", "device_id": 0x17fd, "class": 0x030200},
    ]
    assert cuda_probe.read_pci_devices(str(tmp_path / "absent")) == ([], [])


def test_nvml_names_and_compute_capabilities(fakes):
    library = fakes.nvml_library(init=0, driver="580.95.05", nvml_version="13.580.95.05", cuda=13000,
                                 devices=[("00000000:18:00.0", 0x2335, "NVIDIA H200", (9, 0)),
                                          ("00000000:2A:00.0", 0x2335, "NVIDIA H200", (9, 0))])
    result = cuda_probe.probe_nvml(fakes.loader_for(library))
    assert result["devices"] == [
        {"index": 0, "bus_id": "0000:18:00.0", "device_id": 0x2335, "name": "NVIDIA H200", "compute_capability": "9.0"},
        {"index": 1, "bus_id": "0000:2a:00.0", "device_id": 0x2335, "name": "NVIDIA H200", "compute_capability": "9.0"},
    ]
    assert result["problems"] == []


@pytest.mark.parametrize(("text", "version"), [
    ("Fabric Manager version is : 580.95.05\n", "580.95.05"),
    ("nv-fabricmanager 535.104.05\n", "535.104.05"),
    ("", None),
])
def test_fabric_manager_version(text, version):
    assert cuda_probe.parse_fabric_manager_version(text) == version


@pytest.mark.parametrize(("device_ids", "flavours", "limits"), [
    ([0x17fd], ["proprietary"], (None, 580)),           # Maxwell: no floor in the table, R580 the last
    ([0x102d], ["proprietary"], (None, 470)),           # Kepler
    ([0x1db4, 0x1eb8], ["proprietary"], (410, 580)),    # Volta with Turing: the newest floor, the oldest end
    ([0x2335], ["open", "proprietary"], (520, None)),   # Hopper
    ([0x2342], ["open"], (520, None)),                  # Grace Hopper
    ([0x2901], ["open"], (570, None)),                  # Blackwell
    ([0x17fd, 0x2901], [], (570, 580)),                 # no flavour runs both
    ([0x3182], None, (None, None)),                     # unknown: nothing known
])
def test_supported_flavours_and_branch_limits(device_ids, flavours, limits):
    gpus = [gpu(number) for number in device_ids]
    assert cuda_gpus.supported_flavours(gpus) == flavours
    assert cuda_gpus.branch_limits(gpus) == limits

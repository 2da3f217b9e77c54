"""What a user gets from playbooks/gpu_bench.yml in the lab (no GPU): gpu1 measured on its CPU in the
benchmark image, its result kept on the controller, and one report comparing it with a result added
from a file - a table, JSON whose figures are positive and labelled CPU, and a PNG chart.

The report folder is the lab's own state folder (.lab/<lab>/gpu_bench, inventories/lab/group_vars).
tests/test_molecule.py writes each Molecule step's output to artifacts/molecule/gpu_bench.log first.
"""
import json
import re
import struct
import zlib
from pathlib import Path

import pytest
from labhosts import GPUS, LAB_VARS, LOG, SCENARIO_DIR, ansible_playbook, host

GPU = GPUS[0]
REPORT_DIR = Path(LAB_VARS["ansible_control_path_dir"]).parent / "gpu_bench"
RESULT = REPORT_DIR / "results" / f"{GPU}.json"
ADDED = SCENARIO_DIR / "files" / "workstation-cpu.json"
IMAGE = "hpcdl-lab/gpu-bench:1"
RESNET50_PARAMETERS = 25557032  # torchvision.models.resnet50()
CPU_ORANGE = (230, 126, 34)  # the chart's CPU colour (plugins/plugin_utils/gpu_bench_report.py)
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def result():
    assert RESULT.is_file(), f"no result kept for {GPU} at {RESULT}"
    return json.loads(RESULT.read_text())


def report():
    path = REPORT_DIR / "gpu_bench_report.json"
    assert path.is_file(), f"no report at {path}"
    return json.loads(path.read_text())


def test_gpu1_was_measured_on_its_cpu_in_the_benchmark_image():
    measured = result()
    assert measured["format"] == "hpcdl.gpu.gpu_bench/1"
    assert measured["host"] == GPU and measured["image"] == IMAGE
    assert measured["label"] == "CPU" and measured["device"]["kind"] == "cpu", measured["device"]
    assert measured["device"]["framework"].startswith("torch 2.13.0"), measured["device"]
    # The small profile (the CPU's), its sizes reported in the result.
    assert measured["profile"] == "small"
    assert measured["sizes"]["matmul_n"] == 512 and measured["sizes"]["resnet_image"] == 224, measured["sizes"]
    assert set(measured["figures"]) == {"matmul_fp32", "matmul_bf16", "copy_device", "resnet50_train"}
    for name, figure in measured["figures"].items():
        assert figure["label"] == "CPU", name
        assert figure["median"] > 0 and figure["min"] > 0 and figure["max"] >= figure["median"], (name, figure)
        assert len(figure["samples"]) >= 3, (name, figure)
    # What the CPU has no figure for, said with the reason.
    assert set(measured["skipped"]) == {"matmul_tf32", "matmul_fp16", "copy_host_to_device"}
    assert all("CPU" in reason for reason in measured["skipped"].values()), measured["skipped"]
    resnet = measured["figures"]["resnet50_train"]
    # The image has no torchvision: the workload's own ResNet-50, the same network.
    assert resnet["model"].startswith("builtin ResNet-50 (He et al. 2015"), resnet["model"]
    assert resnet["parameters"] == RESNET50_PARAMETERS
    assert (resnet["batch"], resnet["image"], resnet["timed_steps"]) == (2, [3, 224, 224], 5)
    # Measured through the NVIDIA runtime the lab registers, with no GPUs given.
    assert measured["identity"]["runtime"] == "nvidia" and measured["identity"]["gpus"] == ""
    assert measured["price"] == {"per_hour": 1.0, "currency": "XTS"}
    print({name: round(figure["median"], 4) for name, figure in measured["figures"].items()})


def test_nothing_is_left_on_the_node():
    node = host(GPU)
    assert node.check_output("docker ps -aq --filter name=hpcdl-gpu-bench") == ""
    # The workload came on stdin: no copy of it on the node.
    assert node.run("find / -xdev -name hpcdl_gpu_bench.py -print -quit").stdout.strip() == ""


def test_the_report_compares_the_host_measured_now_with_the_one_added_from_a_file():
    rows = report()["rows"]
    assert [row["host"] for row in rows] == [GPU, "workstation-cpu"], rows
    assert rows[0]["source"] == "measured on this host"
    assert rows[1]["source"] == f"added from {ADDED}"
    for row in rows:
        assert row["label"] == "CPU" and row["device"].startswith("CPU: "), row
        for key in ("resnet50_images_per_s", "matmul_best_tflops", "copy_device_gbps",
                    "cost_per_1000_images", "cost_per_pflop"):
            assert row[key] > 0, (row["host"], key, row[key])
        assert row["copy_host_to_device_gbps"] is None
        assert row["currency"] == "XTS"
    assert rows[0]["price_per_hour"] == 1.0 and rows[1]["price_per_hour"] == 0.5
    # Cost per 1,000 images from the price and the throughput; the best row's ratio is 1.
    for row in rows:
        assert row["cost_per_1000_images"] == pytest.approx(row["price_per_hour"] / row["resnet50_images_per_s"] / 3.6)
        assert row["cost_per_pflop"] == pytest.approx(row["price_per_hour"] / row["matmul_best_tflops"] / 3.6)
    for key in ("resnet50_images_per_s", "cost_per_1000_images", "cost_per_pflop"):
        ratios = sorted(row[key + "_vs_best"] for row in rows)
        assert 1.0 in ratios, (key, ratios)


def test_the_table_says_cpu_on_every_line_and_is_what_the_play_printed():
    table = (REPORT_DIR / "gpu_bench_report.txt").read_text().splitlines()
    assert table == report()["table"]
    header, *lines = table
    assert "ResNet-50 img/s" in header and "per 1,000 images" in header and "per PFLOP" in header
    assert [line.split()[0] for line in lines] == [GPU, "workstation-cpu"]
    for line in lines:
        assert " CPU: " in line and "GPU" not in line, line
    converge = LOG.read_text().split("===== molecule converge -s gpu_bench")[-1]
    shown = converge[converge.find("TASK [hpcdl.gpu.gpu_bench : Show the comparison]"):]
    assert shown and "2 host(s) compared" in shown, "the play did not print the comparison"


def read_png(path):
    """(width, height, {rgb: count}) of an 8-bit RGB, non-interlaced PNG, every chunk's CRC checked."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0], kind
        chunks.append((kind, body))
        pos += 12 + length
    assert [c[0] for c in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 2, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * 3
    assert len(raw) == height * (stride + 1)
    counts = {}
    for y in range(height):
        row = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        assert row[0] == 0, "the chart writer uses filter type 0"
        for x in range(1, stride + 1, 3):
            pixel = tuple(row[x:x + 3])
            counts[pixel] = counts.get(pixel, 0) + 1
    return width, height, counts


def test_the_png_is_a_chart_of_both_hosts():
    width, height, counts = read_png(REPORT_DIR / "gpu_bench_report.png")
    assert width == 1000 and 300 < height < 2000, (width, height)
    assert len(counts) >= 4, counts  # background, ink, bar track, CPU bars
    # Four panels, two CPU bars each (26 px high), plus the legend's swatch.
    assert counts.get(CPU_ORANGE, 0) > 8 * 26 * 2, counts.get(CPU_ORANGE)
    assert max(counts.values()) / (width * height) < 0.95, "the chart is nearly blank"


def test_a_new_price_rewrites_the_kept_result_without_measuring_again():
    before = result()
    rc, out = ansible_playbook(extra={"gpu_bench_price_per_hour": 2.5})
    assert rc == 0, out[-4000:]
    changed = {name: int(count) for name, count, _u, _f in RECAP.findall(out)}
    assert changed.get(GPU) == 2, out[-4000:]  # the kept result and the report, nothing else
    # (ansible.posix.profile_tasks prints a time line under each task's header)
    ran = re.search(r"TASK \[hpcdl\.gpu\.gpu_bench : Run the workload\] \**\n(?:.*\d\d:\d\d:\d\d.*\n)?"
                    r"(\w+): \[" + GPU, out)
    assert ran and ran.group(1) == "skipping", out[-4000:]
    after = result()
    assert after["price"] == {"per_hour": 2.5, "currency": "XTS"}
    assert {k: v for k, v in after.items() if k != "price"} == {k: v for k, v in before.items() if k != "price"}
    assert report()["rows"][0]["price_per_hour"] == 2.5

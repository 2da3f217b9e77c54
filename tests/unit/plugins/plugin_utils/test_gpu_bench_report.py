"""The gpu_bench report's logic (plugins/plugin_utils/gpu_bench_report.py) and its PNG writer.

The results here are made-up inputs shaped like the workload's output (the figures are round
numbers for the arithmetic, not measurements).
"""
import json
import os
import struct
import zlib

import pytest
from ansible_collections.hpcdl.gpu.plugins.plugin_utils import gpu_bench_report as report
from ansible_collections.hpcdl.gpu.plugins.plugin_utils.png_chart import Canvas, fit, glyph


def figure(median, label):
    return {"median": median, "min": median * 0.9, "max": median * 1.1, "spread": 0.2, "samples": [median],
            "unit": "x", "label": label}


def result(host, label, price=None, **figures):
    made = {"format": "hpcdl.gpu.gpu_bench/1", "host": host, "label": label,
            "workload": {"name": "hpcdl_gpu_bench", "version": "1"}, "profile": "full",
            "measured_at": "2026-12-01T10:00:00Z",
            "device": {"kind": "cuda" if label == "GPU" else "cpu", "name": "Tesla M40" if label == "GPU" else "Xeon",
                       "count": 2 if label == "GPU" else 1, "cpu_threads": 8, "framework": "torch 2.5.1"},
            "figures": {name: figure(value, label) for name, value in figures.items()}}
    if price is not None:
        made["price"] = {"per_hour": price[0], "currency": price[1]}
    return made


ALIYUN = result("hpc1", "GPU", matmul_fp32=6.0, matmul_fp16=12.0, copy_device=200.0, copy_host_to_device=10.0,
                resnet50_train=100.0)
AWS = result("p2-1", "GPU", price=(0.9, "USD"), matmul_fp32=4.0, copy_device=150.0, resnet50_train=50.0)
LAB = result("gpu1", "CPU", matmul_fp32=0.2, matmul_bf16=0.4, copy_device=20.0, resnet50_train=4.0)


def test_costs_and_ratios():
    rows = report.rows([(ALIYUN, 37.5, "CNY"), (LAB, 1.0, "XTS")], [(AWS, "/tmp/aws/p2-1.json")])
    hpc1, gpu1, aws = rows
    # 37.5 CNY an hour at 100 images/s: 37.5 / 360000 per image, x 1000.
    assert hpc1["cost_per_1000_images"] == pytest.approx(37.5 / 360.0)
    # The fastest precision (FP16, 12 TFLOP/s): an hour is 43.2 PFLOP.
    assert (hpc1["matmul_best_precision"], hpc1["matmul_best_tflops"]) == ("FP16", 12.0)
    assert hpc1["cost_per_pflop"] == pytest.approx(37.5 / 43.2)
    assert aws["price_per_hour"] == 0.9 and aws["currency"] == "USD"  # the added file's own price
    assert aws["source"] == "added from /tmp/aws/p2-1.json" and hpc1["source"] == "measured on this host"
    # Throughput against the highest of all rows; costs only within one currency (each is its own best here).
    assert hpc1["resnet50_images_per_s_vs_best"] == 1.0 and aws["resnet50_images_per_s_vs_best"] == 0.5
    assert gpu1["resnet50_images_per_s_vs_best"] == pytest.approx(0.04)
    assert [r["cost_per_1000_images_vs_best"] for r in rows] == [1.0, 1.0, 1.0]
    assert gpu1["label"] == "CPU" and gpu1["device"] == "CPU: Xeon (8 threads)"
    assert hpc1["device"] == "GPU: 2 x Tesla M40"
    assert gpu1["copy_host_to_device_gbps"] is None


def test_cost_ratios_within_a_currency_and_no_price_no_cost():
    cheaper = result("hpc2", "GPU", matmul_fp32=6.0, resnet50_train=200.0)
    rows = report.rows([(ALIYUN, 37.5, "CNY"), (cheaper, 37.5, "CNY"), (LAB, None, None)], [])
    assert rows[0]["cost_per_1000_images_vs_best"] == pytest.approx(2.0)
    assert rows[1]["cost_per_1000_images_vs_best"] == 1.0
    assert rows[2]["cost_per_1000_images"] is None and rows[2]["currency"] is None


def test_the_table_says_cpu_or_gpu_on_every_row():
    lines = report.table(report.rows([(ALIYUN, 37.5, "CNY"), (LAB, 1.0, "XTS")], [(AWS, "/x/p2-1.json")]))
    assert lines[0].split()[:3] == ["host", "measured", "device"]
    hpc1, gpu1, aws = lines[1:]
    assert "GPU: 2 x Tesla M40" in hpc1 and "CPU" not in hpc1
    assert gpu1.count("CPU") >= 4 and "GPU" not in gpu1  # device, matmul, copy, ResNet-50 cells
    assert "6.00/-/-/12.0 GPU" in hpc1 and "37.5 CNY" in hpc1 and "0.104 CNY (x1.00)" in hpc1
    assert "0.868 CNY FP16 (x1.00)" in hpc1
    assert "2026-12-01 (added)" in aws and "0.900 USD" in aws
    assert len({len(line.rstrip()) for line in lines}) >= 1


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (1234.5, "1234"), (37.5, "37.5"), (4.553, "4.55"), (0.195, "0.195"), (0.0425, "0.0425"),
    (0.000123, "0.000123"), (0, "0"),
])
def test_numbers(value, text):
    assert report.number(value) == text


def test_the_document_is_stable_json():
    rows = report.rows([(LAB, 1.0, "XTS")], [])
    first, second = report.document(rows), report.document(report.rows([(LAB, 1.0, "XTS")], []))
    assert first == second
    parsed = json.loads(first)
    assert parsed["format"] == "hpcdl.gpu.gpu_bench_report/1"
    assert parsed["rows"][0]["label"] == "CPU" and parsed["table"] == report.table(rows)


@pytest.mark.parametrize(("content", "message"), [
    ("[1, 2]", "is not a gpu_bench result: it holds a JSON list, not an object."),
    ('{"hello": "world"}', 'is not a gpu_bench result: its "format" is null, not "hpcdl.gpu.gpu_bench/1".'),
    ("not json at all", "is not a gpu_bench result: it is not JSON ("),
    (json.dumps(dict(LAB, label="TPU")), 'is not a usable gpu_bench result: "label" is "TPU", not CPU or GPU'),
    (json.dumps(dict(LAB, figures={"matmul_fp32": figure(-1.0, "CPU")})), "figure matmul_fp32 has no positive median"),
    (json.dumps(dict(LAB, figures={"matmul_fp32": figure(1.0, "GPU")})),
     'figure matmul_fp32 is labelled "GPU", the result "CPU"'),
    (json.dumps(dict(LAB, price={"per_hour": -2, "currency": "USD"})), '"price" is {"per_hour": -2'),
])
def test_a_file_that_is_not_ours_is_refused(tmp_path, content, message):
    path = tmp_path / "result.json"
    path.write_text(content)
    with pytest.raises(report.ReportError) as caught:
        report.load_result(str(path))
    assert str(caught.value).startswith(str(path)) and message in str(caught.value), caught.value


def test_binary_and_missing_files_are_refused(tmp_path):
    binary = tmp_path / "chart.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(report.ReportError, match="it is not UTF-8 text"):
        report.load_result(str(binary))
    with pytest.raises(report.ReportError, match="cannot be read: No such file or directory"):
        report.load_result(str(tmp_path / "missing.json"))


def test_report_dir_checks(tmp_path):
    assert report.check_report_dir(str(tmp_path / "new" / "deeper")) is None
    (tmp_path / "a-file").write_text("x")
    assert report.check_report_dir(str(tmp_path / "a-file" / "sub")) == (
        f"{tmp_path}/a-file/sub cannot be created: {tmp_path}/a-file is not a folder.")
    assert report.check_report_dir("relative/dir") == '"relative/dir" is not an absolute path.'
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert "is not writable by this user" in report.check_report_dir(str(locked / "sub"))


def decode(png):
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])[0]
        chunks.append((kind, body))
        pos += 12 + length
    width, height = struct.unpack(">II", chunks[0][1][:8])
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    assert len(raw) == height * (width * 3 + 1)
    return [chunk[0] for chunk in chunks], width, height, raw


def test_the_chart_is_a_valid_png_with_a_bar_per_host_and_panel():
    rows = report.rows([(ALIYUN, 37.5, "CNY"), (LAB, 1.0, "XTS")], [(AWS, "/x/p2-1.json")])
    png = report.chart(rows)
    kinds, width, height, raw = decode(png)
    assert kinds == [b"IHDR", b"IDAT", b"IEND"] and width == 1000
    # GPU bars are blue, CPU bars orange: 4 panels, one 26-pixel bar per host (2 GPU, 1 CPU), widest 620 px.
    blue, orange = bytes(report.COLOURS["GPU"]), bytes(report.COLOURS["CPU"])
    pixels = [raw[y * (width * 3 + 1) + 1:(y + 1) * (width * 3 + 1)] for y in range(height)]
    count = {colour: sum(row.count(colour) for row in pixels) for colour in (blue, orange)}
    assert count[blue] > 4 * 26 * 300 and count[orange] > 26 * 2
    assert report.chart(rows) == png  # the same rows give the same bytes


def test_canvas_text_and_fit():
    canvas = Canvas(40, 12)
    end = canvas.text(1, 1, "Ab", (0, 0, 0))
    assert end == 13
    assert bytes(canvas.pixels).count(b"\x00\x00\x00") > 10
    assert glyph("\u00e9") == glyph("?")
    assert fit("a long host name", 60) == "a long h.."
    assert fit("short", 60) == "short"

# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hpcdl.gpu benchmark workload: a fixed, versioned PyTorch program.

The gpu_bench role runs it inside the notebook's image (or gpu_bench_image), read from stdin:

    docker run --rm -i --network none [--runtime nvidia -e NVIDIA_VISIBLE_DEVICES=all] IMAGE \\
        python3 - --profile auto --device auto --workloads matmul,memory,resnet50

It needs PyTorch and nothing else (torchvision is used where the image has one that loads), no
network (synthetic data, random weights), and prints one JSON document on stdout; progress goes to
stderr. What it measures, on the GPU where the framework sees one, else on the CPU:

- matmul: matrix-multiply throughput, TFLOP/s (2 n^3 per product), FP32 (TF32 off), and on a GPU
  TF32 (Ampere and newer), BF16 (where it is native, not emulated) and FP16 (Volta and newer: the
  tensor-core precisions); on the CPU FP32 and BF16;
- memory: a device-to-device copy (GB/s counting the bytes read and the bytes written), and on a
  GPU the host-to-device copy from pinned memory (GB/s of bytes moved); on the CPU the copy is
  RAM to RAM and there is no host-to-device figure;
- resnet50: ResNet-50 training (SGD with momentum, cross-entropy, synthetic images and labels) at
  a fixed batch size, images/s: warm-up steps excluded, the median of the timed steps.

Every figure is the median of its samples, with the minimum, the maximum and the spread
((max - min) / median), the sizes used, and "label": "GPU" or "CPU". Sizes come from a profile
(`full` for a GPU, `small` for a CPU; `auto` picks by the device) and can be overridden one by
one (--sizes JSON). WORKLOAD_VERSION changes whenever what is measured, or how, changes: results
of different versions are not compared.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

WORKLOAD_VERSION = "1"
FORMAT = "hpcdl.gpu.gpu_bench/1"
WORKLOADS = ("matmul", "memory", "resnet50")
PROFILES = {
    # Sized for one data-centre GPU (an M40 or K80 has 12 GB): an 8192^3 product saturates it,
    # copies of 2 GiB, ResNet-50 at the batch size most published figures use per GPU.
    "full": {"matmul_n": 8192, "matmul_iters": 10, "copy_mib": 2048, "h2d_mib": 1024, "copy_iters": 20,
             "resnet_batch": 64, "resnet_image": 224, "resnet_warmup": 5, "resnet_steps": 20,
             "resnet_precision": "amp", "repeats": 5},
    # The lab and CI: two shared CPU cores, a few seconds per figure (ResNet-50 at its own 224x224).
    "small": {"matmul_n": 512, "matmul_iters": 4, "copy_mib": 64, "h2d_mib": 64, "copy_iters": 4,
              "resnet_batch": 2, "resnet_image": 224, "resnet_warmup": 1, "resnet_steps": 5,
              "resnet_precision": "fp32", "repeats": 3},
}
SIZE_KEYS = tuple(PROFILES["full"])
RESNET50_PARAMETERS = 25557032  # torchvision.models.resnet50(): 25.6 M


def log(message):
    print("gpu_bench: " + message, file=sys.stderr, flush=True)


def summary(samples, unit, **extra):
    """One figure: the median of the samples, their spread, and how they were made."""
    median = statistics.median(samples)
    figure = {"median": median, "min": min(samples), "max": max(samples),
              "spread": (max(samples) - min(samples)) / median if median else None,
              "samples": samples, "unit": unit}
    figure.update(extra)
    return figure


# --------------------------------------------------------------------------------------------
# ResNet-50, for images without a working torchvision: the bottleneck network of He, Zhang, Ren
# and Sun, "Deep Residual Learning for Image Recognition" (CVPR 2016, arXiv:1512.03385), Table 1,
# 50 layers: [3, 4, 6, 3] bottleneck blocks of widths 64, 128, 256, 512 (expansion 4). As in
# torchvision's resnet50 (the "v1.5" layout), a block that downsamples does it in its 3x3
# convolution and its projection shortcut is a strided 1x1 convolution with batch norm; the layer
# shapes and the 25,557,032 parameters are the same as torchvision's.


def resnet50_builtin(torch):
    nn = torch.nn

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride):
            super().__init__()
            out = planes * self.expansion
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or inplanes != out:
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
                                                nn.BatchNorm2d(out))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return self.relu(y + identity)

    class ResNet50(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            inplanes, stages = 64, []
            for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                layer = []
                for index in range(blocks):
                    layer.append(Bottleneck(inplanes, planes, stride if index == 0 else 1))
                    inplanes = planes * Bottleneck.expansion
                stages.append(nn.Sequential(*layer))
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet50()


def resnet50(torch):
    """torchvision's resnet50 (random weights) where it loads beside this torch, else the builtin one."""
    try:
        import torchvision  # noqa: PLC0415 - optional
        try:
            model = torchvision.models.resnet50(weights=None)
        except TypeError:  # torchvision before 0.13
            model = torchvision.models.resnet50(pretrained=False)
        return model, f"torchvision {torchvision.__version__} resnet50"
    except Exception as exc:  # noqa: BLE001 - any failure to load it means: use our own
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return resnet50_builtin(torch), f"builtin ResNet-50 (He et al. 2015; torchvision not usable: {reason})"


# --------------------------------------------------------------------------------------------
# The device


class Device:
    def __init__(self, torch, kind):
        self.torch = torch
        self.kind = kind  # "cuda" or "cpu"
        self.label = "GPU" if kind == "cuda" else "CPU"
        self.dev = torch.device("cuda:0" if kind == "cuda" else "cpu")

    def sync(self):
        if self.kind == "cuda":
            self.torch.cuda.synchronize()

    def timed(self, function, iterations):
        """Seconds for `iterations` calls, the device drained before and after."""
        self.sync()
        started = time.perf_counter()
        for _call in range(iterations):
            function()
        self.sync()
        return time.perf_counter() - started

    def capability(self):
        return self.torch.cuda.get_device_capability(0) if self.kind == "cuda" else None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_driver():
    """The NVIDIA driver's version as the container sees it (the host's kernel module)."""
    try:
        with open("/proc/driver/nvidia/version") as text:
            for word in text.read().split():
                parts = word.split(".")
                if len(parts) >= 2 and all(p.isdigit() for p in parts):
                    return word
    except OSError:
        pass
    return None


def describe(device):
    torch = device.torch
    info = {"kind": device.kind, "label": device.label, "framework": f"torch {torch.__version__}",
            "torch": torch.__version__, "python": platform.python_version(),
            "cpu": cpu_model(), "cpu_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    if device.kind == "cuda":
        props = torch.cuda.get_device_properties(0)
        major, minor = device.capability()
        driver_api = None
        try:
            raw = torch._C._cuda_getDriverVersion()  # e.g. 13000: the CUDA version the driver runs
            driver_api = f"{raw // 1000}.{raw % 1000 // 10}"
        except Exception:  # noqa: BLE001 - private API: report what is there
            pass
        info.update({
            "name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(),
            "capability": f"{major}.{minor}", "memory_gib": round(props.total_memory / 2 ** 30, 1),
            "multiprocessors": props.multi_processor_count, "driver": nvidia_driver(),
            "cuda_driver": driver_api, "cuda_runtime": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        })
    else:
        info.update({"name": info["cpu"], "count": 1})
    return info


# --------------------------------------------------------------------------------------------
# The workloads


def native_bf16(device):
    """Whether the GPU has BF16 arithmetic of its own (Ampere and newer), not an emulation."""
    torch = device.torch
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch before 2.3 has no emulation to exclude
        return bool(torch.cuda.is_bf16_supported())


def matmul_precisions(device):
    """(name, dtype, allow TF32) for each precision the device has matrix units for, FP32 first."""
    torch = device.torch
    found = [("fp32", torch.float32, False)]
    if device.kind == "cuda":
        major, _minor = device.capability()
        if major >= 8:  # Ampere and newer: TF32 tensor cores
            found.append(("tf32", torch.float32, True))
        if native_bf16(device):
            found.append(("bf16", torch.bfloat16, False))
        if major >= 7:  # Volta and newer: FP16 tensor cores
            found.append(("fp16", torch.float16, False))
    else:
        found.append(("bf16", torch.bfloat16, False))
    return found


def run_matmul(device, sizes, figures, skipped):
    torch = device.torch
    n, iters, repeats = sizes["matmul_n"], sizes["matmul_iters"], sizes["repeats"]
    names = [p[0] for p in matmul_precisions(device)]
    for name in ("tf32", "bf16", "fp16"):
        if name not in names:
            skipped["matmul_" + name] = f"{device.label}: no {name.upper()} matrix units (or none the framework uses)"
    for name, dtype, tf32 in matmul_precisions(device):
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
        a = torch.randn(n, n, device=device.dev, dtype=torch.float32).to(dtype)
        b = torch.randn(n, n, device=device.dev, dtype=torch.float32).to(dtype)
        c = torch.empty(n, n, device=device.dev, dtype=dtype)

        def product(a=a, b=b, c=c):
            torch.matmul(a, b, out=c)

        device.timed(product, 2)  # warm-up: kernels chosen, clocks up
        samples = []
        for _repeat in range(repeats):
            seconds = device.timed(product, iters)
            samples.append(2.0 * n ** 3 * iters / seconds / 1e12)
        figures["matmul_" + name] = summary(samples, "TFLOP/s", label=device.label, precision=name.upper(),
                                            size=[n, n, n], iterations=iters, repeats=repeats)
        log(f"matmul {name} {n}x{n}x{n}: {figures['matmul_' + name]['median']:.3f} TFLOP/s ({device.label})")
        del a, b, c
    torch.set_float32_matmul_precision("highest")


def copy_rate(device, dst, src, counted_bytes, *, iterations, repeats):
    """GB/s of `counted_bytes` per copy of src into dst, one sample per repeat."""
    def copy():
        dst.copy_(src, non_blocking=True)

    device.timed(copy, 2)
    return [counted_bytes * iterations / device.timed(copy, iterations) / 1e9 for _repeat in range(repeats)]


def run_memory(device, sizes, figures, skipped):
    torch = device.torch
    repeats, iters = sizes["repeats"], sizes["copy_iters"]
    size = sizes["copy_mib"] * 2 ** 20
    src = torch.empty(size, dtype=torch.uint8, device=device.dev).random_(0, 255)
    samples = copy_rate(device, torch.empty_like(src), src, 2.0 * size, iterations=iters, repeats=repeats)
    figures["copy_device"] = summary(samples, "GB/s", label=device.label, bytes=size, iterations=iters,
                                     repeats=repeats, counted="bytes read + bytes written",
                                     what="device memory to device memory" if device.kind == "cuda"
                                     else "RAM to RAM (CPU)")
    log(f"copy {sizes['copy_mib']} MiB: {figures['copy_device']['median']:.1f} GB/s ({device.label})")
    src = None
    if device.kind != "cuda":
        skipped["copy_host_to_device"] = "CPU: no device memory apart from the host's"
        return
    size = sizes["h2d_mib"] * 2 ** 20
    host = torch.empty(size, dtype=torch.uint8).pin_memory()
    samples = copy_rate(device, torch.empty(size, dtype=torch.uint8, device=device.dev), host, 1.0 * size,
                        iterations=iters, repeats=repeats)
    figures["copy_host_to_device"] = summary(samples, "GB/s", label=device.label, bytes=size, iterations=iters,
                                             repeats=repeats, counted="bytes moved",
                                             what="pinned host memory to device memory")
    log(f"host to device {sizes['h2d_mib']} MiB: {figures['copy_host_to_device']['median']:.1f} GB/s")


def resnet_precision(device, wanted):
    """The precision ResNet-50 trains in: fp32, or autocast to bf16 (fp16 where the GPU lacks bf16)."""
    torch = device.torch
    if wanted == "fp32" or device.kind != "cuda":
        return "fp32", None
    if native_bf16(device):
        return "amp-bf16", torch.bfloat16
    major, _minor = device.capability()
    if major >= 7:
        return "amp-fp16", torch.float16
    return "fp32", None


def run_resnet50(device, sizes, figures, skipped):
    torch = device.torch
    batch, image = sizes["resnet_batch"], sizes["resnet_image"]
    model, source = resnet50(torch)
    parameters = sum(p.numel() for p in model.parameters())
    precision, dtype = resnet_precision(device, sizes["resnet_precision"])
    channels_last = device.kind == "cuda"
    model = model.to(device.dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler("cuda") if dtype is torch.float16 else None
    images = torch.randn(batch, 3, image, image, device=device.dev)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 1000, (batch,), device=device.dev)
    if device.kind == "cuda":
        torch.backends.cudnn.benchmark = True

    def step():
        optimizer.zero_grad(set_to_none=True)
        if dtype is not None:
            with torch.autocast("cuda", dtype=dtype):
                loss = loss_fn(model(images), labels)
        else:
            loss = loss_fn(model(images), labels)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    for _step in range(sizes["resnet_warmup"]):
        device.timed(step, 1)
    samples = [batch / device.timed(step, 1) for _step in range(sizes["resnet_steps"])]
    figures["resnet50_train"] = summary(samples, "images/s", label=device.label, model=source,
                                        parameters=parameters, batch=batch, image=[3, image, image],
                                        precision=precision, warmup_steps=sizes["resnet_warmup"],
                                        timed_steps=sizes["resnet_steps"], optimizer="SGD momentum 0.9",
                                        channels_last=channels_last)
    log(f"ResNet-50 training, batch {batch} at {image}x{image}, {precision}: "
        f"{figures['resnet50_train']['median']:.2f} images/s ({device.label}; {source})")


RUNNERS = {"matmul": run_matmul, "memory": run_memory, "resnet50": run_resnet50}


# --------------------------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="hpcdl_gpu_bench.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--profile", choices=("auto",) + tuple(PROFILES), default="auto")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated, of: " + ", ".join(WORKLOADS))
    parser.add_argument("--sizes", default="{}", help="JSON object overriding the profile's sizes: "
                        + ", ".join(SIZE_KEYS))
    parser.add_argument("--version", action="store_true", help="print the workload version and exit")
    args = parser.parse_args(argv)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown or not workloads:
        parser.error(f"--workloads: unknown {', '.join(unknown) or '(none given)'} (known: {', '.join(WORKLOADS)})")
    try:
        sizes = json.loads(args.sizes)
    except ValueError as exc:
        parser.error(f"--sizes is not JSON: {exc}")
    if not isinstance(sizes, dict):
        parser.error("--sizes must be a JSON object")
    bad = sorted(k for k in sizes if k not in SIZE_KEYS)
    if bad:
        parser.error(f"--sizes: unknown {', '.join(bad)} (known: {', '.join(SIZE_KEYS)})")
    args.workload_list, args.size_overrides = workloads, {k: v for k, v in sizes.items() if v is not None}
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.version:
        print(WORKLOAD_VERSION)
        return 0
    warnings.filterwarnings("ignore", message=".*Failed to initialize NumPy.*")
    started = time.time()
    import torch  # noqa: PLC0415 - the one thing the image must have

    cuda = torch.cuda.is_available()
    if args.device == "cuda" and not cuda:
        print(json.dumps({"format": FORMAT, "error": f"the framework sees no CUDA device (torch {torch.__version__}, "
                          f"built for CUDA {torch.version.cuda})"}))
        return 3
    kind = "cuda" if args.device == "cuda" or (args.device == "auto" and cuda) else "cpu"
    device = Device(torch, kind)
    profile = args.profile if args.profile != "auto" else ("full" if kind == "cuda" else "small")
    sizes = dict(PROFILES[profile])
    sizes.update(args.size_overrides)
    info = describe(device)
    log(f"{device.label} {info['name']}, {info['framework']}, profile {profile}")
    figures, skipped = {}, {}
    for name in WORKLOADS:
        if name in args.workload_list:
            RUNNERS[name](device, sizes, figures, skipped)
    print(json.dumps({
        "format": FORMAT, "workload": {"name": "hpcdl_gpu_bench", "version": WORKLOAD_VERSION},
        "label": device.label, "device": info, "profile": profile, "sizes": sizes,
        "workloads": args.workload_list, "figures": figures, "skipped": skipped,
        "seconds": round(time.time() - started, 1),
    }, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/bin/bash
# Lab artifact: the datasets the dataset role fetches on the relay host (the jump host) and syncs to
# the gpu nodes (molecule/dataset). Generated from fixed seeds, so their sha256 are known:
#   dataset.sh OUTDIR  ->  OUTDIR/hpcdl-lab-random-256M.bin   256 MiB (268435456 bytes): SHAKE-256 of
#                                                             "hpcdl-lab-dataset seed 2017-04-19 block <i>",
#                                                             1 MiB per block i = 0..255; its sha256 is
#                                                             checked below (RANDOM_SHA256)
#                          OUTDIR/hpcdl-lab-samples.tar.gz    a small archive to unpack (a README, a CSV,
#                                                             text "images" in a folder, an executable
#                                                             script), built reproducibly (fixed mtimes,
#                                                             owners, order; gzip without a name or time)
#                          OUTDIR/hpcdl-lab-samples-corrupt.tar.gz   the same with one byte flipped
#                          OUTDIR/<each>.sha256               sha256sum format
# Standard library Python only; about 2 s.
set -euo pipefail
out=${1:?usage: dataset.sh OUTDIR}
mkdir -p "$out"
python3 - "$out" <<'PY'
import gzip
import hashlib
import io
import pathlib
import sys
import tarfile

RANDOM_SHA256 = "a100b636f28b6f5cf8226589ce16bc00e0451ead6af9c68189dc6530c2d9811c"
MTIME = 1492560000  # 2017-04-19, the seed's date
out = pathlib.Path(sys.argv[1])

big = out / "hpcdl-lab-random-256M.bin"
digest = hashlib.sha256()
with big.open("wb") as handle:
    for block in range(256):
        data = hashlib.shake_256(b"hpcdl-lab-dataset seed 2017-04-19 block %d" % block).digest(1 << 20)
        digest.update(data)
        handle.write(data)
if digest.hexdigest() != RANDOM_SHA256:
    sys.exit(f"dataset.sh: {big.name} has sha256 {digest.hexdigest()}, not {RANDOM_SHA256}: the generator changed")

files = {
    "README.txt": (0o644, "hpcdl lab samples: a small dataset the dataset role unpacks on the gpu nodes.\n"),
    "labels.csv": (0o644, "id,label\n" + "".join(f"{i:04d},{('cat', 'dog', 'bird')[i % 3]}\n" for i in range(1, 201))),
    "tools/show.sh": (0o755, "#!/bin/sh\n# Print the labels.\ncat \"$(dirname \"$0\")/../labels.csv\"\n"),
}
for i in range(1, 21):
    seed = hashlib.sha256(b"hpcdl-lab-samples %d" % i).hexdigest()
    files[f"images/{i:04d}.txt"] = (0o644, (seed + "\n") * 64)
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
    folders = sorted({str(pathlib.PurePosixPath(name).parent) for name in files} - {"."})
    for folder in folders:
        info = tarfile.TarInfo("samples/" + folder)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
        tar.addfile(info)
    for name in sorted(files):
        mode, text = files[name]
        data = text.encode()
        info = tarfile.TarInfo("samples/" + name)
        info.size, info.mode, info.mtime = len(data), mode, MTIME
        tar.addfile(info, io.BytesIO(data))
packed = io.BytesIO()
with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as zipped:
    zipped.write(raw.getvalue())
archive = out / "hpcdl-lab-samples.tar.gz"
archive.write_bytes(packed.getvalue())
corrupt = bytearray(packed.getvalue())
corrupt[len(corrupt) // 2] ^= 0xFF
(out / "hpcdl-lab-samples-corrupt.tar.gz").write_bytes(bytes(corrupt))
PY
(cd "$out" && for f in *.bin *.tar.gz; do sha256sum "$f" > "$f.sha256"; done)

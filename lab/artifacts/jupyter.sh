#!/bin/bash
# Lab artifact: the Jupyter image the lab's GPU nodes run, built from the lab's base image
# (no registry: python3-venv from Debian's mirror, Jupyter from PyPI with hash checking).
#   jupyter.sh OUTDIR -> OUTDIR/jupyter.tar (`docker save` of hpcdl-lab/jupyter:1),
#                        jupyter.tar.sha256 (sha256sum format)
# Needs LAB_BASE_IMAGE (the tag `lab.py image` prints; lab.py passes it) and LAB_ENGINE.
# The image: Notebook 7 + ipykernel in a venv at /opt/jupyter, pinned by
# jupyter/requirements.txt (regenerate with jupyter/relock.py); user jovyan (1000:100),
# working dir /home/jovyan/work; `jupyter notebook` on 0.0.0.0:8888. No token or password is
# baked in: Jupyter reads /etc/jupyter/jupyter_server_config.json (its system config path),
# which the jupyter role mounts read-only. One layer (export + import), so that a node's
# dockerd on the vfs driver does not copy the layers twice.
# The build container reaches the mirror and PyPI through the host's NAT (default network);
# the host's CA bundle is copied in for the build only (TLS interception) and removed after.
set -euo pipefail
out=${1:?usage: jupyter.sh OUTDIR}
engine=${LAB_ENGINE:-docker}
base=${LAB_BASE_IMAGE:?set LAB_BASE_IMAGE to the lab base image tag (lab.py image prints it)}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=hpcdl-lab/jupyter:1
ctr=hpcdl-lab-jupyter-build-$$
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  "$engine" rm -f "$ctr" >/dev/null 2>&1 || true
  "$engine" image rm -f "$image" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mkdir -p "$out" "$work/build"
cp "$here/jupyter/requirements.txt" "$work/build/requirements.txt"
for bundle in "${LAB_CA_BUNDLE:-}" /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  if [ -n "$bundle" ] && [ -s "$bundle" ]; then
    install -m 0644 "$bundle" "$work/build/ca.crt"
    break
  fi
done
cat >"$work/build/build.sh" <<'EOF'
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd /tmp/build
apt_opts=(-q)
if [ -s ca.crt ]; then
  export PIP_CERT=/tmp/build/ca.crt
  apt_opts+=(-o Acquire::https::CAInfo=/tmp/build/ca.crt)
fi
printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-exclude /usr/share/man/*' \
  'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' >/etc/dpkg/dpkg.cfg.d/hpcdl-nodoc
apt-get "${apt_opts[@]}" update
apt-get "${apt_opts[@]}" install -y --no-install-recommends python3-venv
python3 -m venv /opt/jupyter
PIP_DISABLE_PIP_VERSION_CHECK=1 /opt/jupyter/bin/pip install -q --no-cache-dir --no-input \
  --require-hashes --no-deps --only-binary :all: -r requirements.txt
/opt/jupyter/bin/pip check
/opt/jupyter/bin/jupyter notebook --version
useradd --uid 1000 --gid 100 --home-dir /home/jovyan --create-home --shell /bin/bash jovyan
install -d -o 1000 -g 100 -m 0755 /home/jovyan/work
# Jupyter's system config path; the jupyter role mounts jupyter_server_config.json here.
install -d -m 0755 /etc/jupyter
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log \
  /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* \
  /root/.cache /home/jovyan/.cache /opt/jupyter/share/man
rm -rf /tmp/build /tmp/* /var/tmp/*
EOF
"$engine" create --name "$ctr" "$base" bash /tmp/build/build.sh >/dev/null
"$engine" cp "$work/build" "$ctr:/tmp/build"
"$engine" start -a "$ctr"
"$engine" export "$ctr" | "$engine" import \
  --change 'USER jovyan' \
  --change 'WORKDIR /home/jovyan/work' \
  --change 'ENV PATH=/opt/jupyter/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'EXPOSE 8888' \
  --change 'LABEL org.opencontainers.image.title="hpcdl-lab Jupyter Notebook 7"' \
  --change 'CMD ["jupyter","notebook","--no-browser","--ip=0.0.0.0","--port=8888"]' \
  - "$image" >/dev/null
"$engine" save -o "$out/jupyter.tar" "$image"
chmod 0644 "$out/jupyter.tar"
(cd "$out" && sha256sum jupyter.tar > jupyter.tar.sha256)

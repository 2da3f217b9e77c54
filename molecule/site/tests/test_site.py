"""The whole flow, judged as the user sees it from the controller: Jupyter on gpu1 answers through
Tengine on jump (http://<jump>:8888/ and nothing else), asks for the token, runs code in a kernel
in the container on the node over the proxied WebSocket, keeps notebooks on the node's disk, and
renders in a real browser; the node's own port stays private; the second run built nothing.

The token is the one the flow generated into the lab's state folder (.lab/<lab>/jupyter_token).
tests/test_molecule.py writes each Molecule step's output to artifacts/molecule/site.log before
this verifier runs; the rebuild test reads it.
"""
import json
import re
import socket
import uuid
from pathlib import Path

import pytest
from jupyter_probe import Jupyter, chromium, read_png
from labhosts import GPUS, JUMP_IP, JUMP_PRIVATE_IP, LAB_VARS, LOG, PROBE_TOKEN, PROBE_URL, PROJECT, RUNNER, host

GPU = GPUS[0]
GPU_IP = RUNNER.get_variables(GPU)["ansible_host"]
LAB_STATE = Path(LAB_VARS["ansible_control_path_dir"]).parent
TOKEN_FILE = LAB_STATE / "jupyter_token"
PORT = 8888
URL = f"http://{JUMP_IP}:{PORT}/"
CONTAINER = "hpcdl-jupyter"
NOTEBOOKS = "/srv/jupyter/notebooks"  # on gpu1; /home/jovyan/work in the container
STAMP = "/usr/local/src/hpcdl-tengine/build.stamp.json"
SCREENSHOT = PROJECT / "artifacts" / "site" / "notebook-tree.png"
COMPILE = re.compile(r"TASK \[hpcdl\.gpu\.tengine : Compile\] \**[ \t]*\n(\w+): \[jump\]")


def token():
    assert TOKEN_FILE.is_file(), f"no token file at {TOKEN_FILE}: the flow generates it (ansible.builtin.password)"
    words = TOKEN_FILE.read_text().split()
    assert words, f"{TOKEN_FILE} is empty"
    return words[0]  # the password lookup may add " salt=..." after it


def jupyter(with_token=True):
    return Jupyter(JUMP_IP, PORT, token() if with_token else None)


def diagnostics():
    """What the node and the proxy say (only evaluated when an assertion fails)."""
    gpu, jump = host(GPU), host("jump")
    parts = [
        gpu.run(f"docker ps -a --filter name={CONTAINER} --format '{{{{.Status}}}} {{{{.Ports}}}}'"),
        gpu.run(f"docker logs --tail 30 {CONTAINER} 2>&1"),
        jump.run("tail -n 15 /usr/local/nginx/logs/error.log"),
    ]
    return "\n".join(f"--- {p.command}\n{p.stdout}{p.stderr}" for p in parts)


@pytest.fixture(scope="module")
def notebook_folder():
    """A file the test writes into the notebook folder on gpu1 (removed afterwards), and the API path of
    that folder as the server sees it (/home/jovyan/work: "work/" under a root of /home/jovyan, or "" when
    the server's root is the folder itself): (prefix, name, content)."""
    name, content = f"hpcdl-site-check-{uuid.uuid4().hex[:12]}.txt", uuid.uuid4().hex
    gpu = host(GPU)
    written = gpu.run(f"printf %s {content} > {NOTEBOOKS}/{name} && chmod 0644 {NOTEBOOKS}/{name}")
    assert written.rc == 0, f"could not write into {NOTEBOOKS} on {GPU}: {written.stderr}"
    try:
        client = jupyter()
        found = {prefix: client.request("GET", f"/api/contents/{prefix}{name}?content=0").status
                 for prefix in ("work/", "")}
        prefixes = [prefix for prefix, status in found.items() if status == 200]
        assert prefixes, (f"{NOTEBOOKS}/{name}, written on {GPU}, is neither work/{name} nor {name} to the "
                          f"contents API (HTTP {found}): the folder is not mounted at /home/jovyan/work\n"
                          f"{diagnostics()}")
        yield prefixes[0], name, content
    finally:
        gpu.run(f"rm -f {NOTEBOOKS}/{name}")


# -- 1. the login page ----------------------------------------------------------------------------
def test_the_login_page_answers_through_the_proxy():
    resp, chain = jupyter(with_token=False).get_following("/")
    assert resp.status == 200, f"GET {URL} (redirects {chain}) ended in {resp}\n{diagnostics()}"
    assert chain[-1].startswith("/login"), f"GET {URL} without the token did not end at the login page: {chain}"
    assert re.search(r"<title>\s*Jupyter[^<]*</title>", resp.body), f"not Jupyter's page: {resp.body[:600]!r}"
    assert re.search(r'<form action="/login[^"]*" method="post"', resp.body), "no login form on the page"
    assert 'id="password_input"' in resp.body and 'name="_xsrf"' in resp.body, \
        f"the login page has no token/password field (or no XSRF field): {resp.body[:2000]!r}"
    # Tengine (nginx) answers, not Jupyter's own server: the page came through the proxy.
    assert re.match(r"(Tengine|nginx)", resp.headers.get("server", "")), \
        f"the answer did not come through Tengine (Server: {resp.headers.get('server')!r})"


# -- 2. authentication ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/kernels", "/api/contents"])
def test_the_api_refuses_without_the_token(path):
    resp = jupyter(with_token=False).request("GET", path, auth=False)
    assert resp.status == 403, f"without the token, {URL.rstrip('/')}{path} should be refused: {resp}"


def test_the_api_refuses_a_wrong_token():
    resp = Jupyter(JUMP_IP, PORT, "hpcdl-not-the-token-" + uuid.uuid4().hex).request("GET", "/api/kernels")
    assert resp.status == 403, f"a wrong token was accepted: {resp}"


def test_the_api_answers_with_the_token():
    resp = jupyter().request("GET", "/api/status")
    assert resp.status == 200, f"with the token from {TOKEN_FILE}, /api/status: {resp}\n{diagnostics()}"
    assert "started" in json.loads(resp.body), resp.body


# -- 3. code runs in a kernel on the node, over the proxied WebSocket ------------------------------
def test_code_runs_in_a_kernel_in_the_container_on_the_node(notebook_folder):
    name, content = notebook_folder[1:]
    gpu = host(GPU)
    container_hostname = gpu.check_output(f"docker inspect --format '{{{{.Config.Hostname}}}}' {CONTAINER}")
    client = jupyter()
    kernel = client.start_kernel()
    try:
        with client.channels(kernel) as channels:
            info = channels.wait_ready()
            assert info.get("status") == "ok", f"kernel_info_reply: {info}"
            first = channels.execute("print(6 * 7)")
            assert first.reply_status == "ok" and first.idle, f"print(6 * 7) did not finish cleanly: {first}"
            assert first.stdout == "42\n", f"print(6 * 7) printed {first.stdout!r}: {first}"
            second = channels.execute(
                "import pathlib, socket\n"
                "print(socket.gethostname())\n"
                f"pathlib.Path('/home/jovyan/work/{name}').read_text()")
            assert second.reply_status == "ok", f"the second cell failed: {second}"
            assert second.stdout.strip() == container_hostname, \
                f"the kernel runs on {second.stdout.strip()!r}, not in {CONTAINER} ({container_hostname}) on {GPU}"
            assert second.results == [repr(content)], \
                f"the kernel read {second.results} from work/{name}, not what the test wrote on {GPU} ({content!r})"
    finally:
        deleted = client.delete_kernel(kernel)
    assert deleted.status == 204, f"DELETE /api/kernels/{kernel}: {deleted}"
    assert kernel not in {k["id"] for k in client.api("GET", "/api/kernels")}, "the kernel is still running"


# -- 4. a real browser --------------------------------------------------------------------------
def test_a_browser_renders_the_notebook_tree(notebook_folder):
    prefix, name = notebook_folder[:2]
    page = f"{URL}tree?token={token()}"
    dom = chromium(page, "--dump-dom", allow_address=JUMP_IP).stdout
    assert 'id="password_input"' not in dom, f"chromium got the login page at {URL}tree, not the notebook tree"
    assert re.search(r'"notebookPage":\s*"tree"', dom), f"not Notebook 7's tree page: {dom[:1500]!r}"
    assert 'id="filebrowser"' in dom, "the page has no file browser: the notebook tree did not render"
    # The listing came from the server through the proxy: the notebook folder (or, when it is the
    # server's root, the file the test wrote into it on the node) is in it.
    entry = prefix.rstrip("/") or name
    assert re.search(rf'jp-DirListing-itemText[^>]*><span>{re.escape(entry)}</span>', dom), \
        f"the file browser does not list {entry!r} (its listing did not load)"

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    chromium(page, f"--screenshot={SCREENSHOT}", allow_address=JUMP_IP)
    assert SCREENSHOT.is_file(), f"chromium wrote no screenshot at {SCREENSHOT}"
    png = read_png(SCREENSHOT)
    assert (png.width, png.height) == (1280, 900), f"{SCREENSHOT} is {png.width}x{png.height}, not 1280x900"
    assert png.colours > 20 and png.top_share < 0.99, \
        f"{SCREENSHOT} looks blank: {png.colours} distinct colours, {png.top_share:.1%} of it one colour"


# -- 5. only the proxy is public ---------------------------------------------------------------------
def test_the_node_port_is_not_reachable_from_the_controller():
    with pytest.raises(OSError):
        socket.create_connection((GPU_IP, 80), timeout=3).close()


def test_the_node_serves_jupyter_on_its_private_address_only():
    gpu = host(GPU)
    assert gpu.socket(f"tcp://{GPU_IP}:80").is_listening, \
        f"nothing listens on {GPU_IP}:80 on {GPU}\n{gpu.run('ss -ltn').stdout}"
    assert not gpu.socket("tcp://0.0.0.0:80").is_listening, f"{GPU} listens on 0.0.0.0:80 (every network)"
    assert not gpu.socket("tcp://:::80").is_listening, f"{GPU} listens on [::]:80 (every network)"
    ports = gpu.check_output(f"docker port {CONTAINER}").splitlines()
    assert ports == [f"8888/tcp -> {GPU_IP}:80"], f"{CONTAINER} publishes {ports}"
    local = gpu.run(f"curl --noproxy '*' -sS -m 5 -o /dev/null -w '%{{http_code}}' http://{GPU_IP}:80/api/status")
    assert local.stdout == "403", f"Jupyter on {GPU_IP}:80 (from {GPU}): {local.stdout} {local.stderr}"


@pytest.mark.parametrize(("source", "target"), [("gpu", "private"), ("internet", "public")])
def test_the_proxy_port_is_open_only_to_the_controller(source, target):
    name = GPU if source == "gpu" else "internet"
    address = JUMP_PRIVATE_IP if target == "private" else JUMP_IP
    assert jupyter(with_token=False).request("GET", "/login").status == 200, "the proxy does not answer the controller"
    tried = host(name).run(f"curl --noproxy '*' -sS -m 4 -o /dev/null -w '%{{http_code}}' http://{address}:{PORT}/login")
    assert tried.rc != 0, (f"{name} reached the proxy at {address}:{PORT} (HTTP {tried.stdout}); "
                           f"only the controller may: {host('jump').run('iptables -S INPUT').stdout}")


# -- 6. the second run built nothing; the summary names the URL -----------------------------------------
def log_sections():
    """[(action, seconds, text)] of artifacts/molecule/site.log, in the order the steps ran."""
    assert LOG.is_file(), (f"{LOG} is missing: run the scenario through tests/test_molecule.py "
                           "(.venv/bin/python -m pytest tests/test_molecule.py -k site), which logs each step")
    parts = re.split(r"^===== molecule (\S+) -s site \(([0-9.]+) s, rc=-?\d+\)\n", LOG.read_text(), flags=re.M)
    return [(parts[i], float(parts[i + 1]), parts[i + 2]) for i in range(1, len(parts) - 2, 3)]


def test_the_second_run_did_not_rebuild_tengine():
    sections = log_sections()
    actions = [section[0] for section in sections]
    assert actions[-3:] == ["converge", "idempotence", "check"], \
        f"{LOG} does not end with this run's converge, idempotence and check: {actions}"
    converge = sections[-3][2]
    idem_seconds, idempotence = sections[-2][1:]
    check_seconds = sections[-1][1]
    assert JUMP_IP in converge, f"the converge in {LOG} is not this lab's (no {JUMP_IP} in it)"
    assert COMPILE.findall(converge) == ["changed"], \
        f"the first run should compile Tengine once: Compile results {COMPILE.findall(converge)}"
    assert COMPILE.findall(idempotence) == ["skipping"], \
        f"the second run should skip Compile: Compile results {COMPILE.findall(idempotence)}"
    # The runner writes each step's section when the step ends, so the idempotence run began
    # (check + idempotence) seconds before the log was last written, less the runner's own milliseconds.
    idempotence_began = LOG.stat().st_mtime - check_seconds - idem_seconds
    stamp_mtime = int(host("jump").check_output(f"stat -c %Y {STAMP}"))
    assert stamp_mtime < idempotence_began - 2, (
        f"{STAMP} on jump was written at {stamp_mtime}, not before the second run began "
        f"(about {idempotence_began:.0f}): the second run rebuilt or rewrote it")


def test_the_summary_names_the_url():
    converge = [section[2] for section in log_sections() if section[0] == "converge"][-1]
    summary = converge[converge.rfind("TASK [Print the summary]"):]
    assert "TASK [Print the summary]" in converge, "the converge printed no summary (playbooks/summary.yml)"
    assert URL in summary, f"the summary does not name {URL}:\n{summary[:3000]}"
    assert re.search(rf"Jupyter\b[^\n]*\banswers at {re.escape(URL)}", summary), \
        f"the summary does not say that Jupyter answers at {URL}:\n{summary[:3000]}"


# -- 7. notebooks are kept on the node ---------------------------------------------------------------
def test_a_notebook_saved_through_the_api_is_kept_on_the_node(notebook_folder):
    prefix = notebook_folder[0]
    client = jupyter()
    source = f"print('saved by the hpcdl site test {uuid.uuid4().hex}')"
    saved = client.save_notebook(f"{prefix}hello.ipynb", [source])
    assert saved["path"] == f"{prefix}hello.ipynb", saved
    on_disk = host(GPU).file(f"{NOTEBOOKS}/hello.ipynb")
    assert on_disk.exists, f"{prefix}hello.ipynb was saved, but {NOTEBOOKS}/hello.ipynb is not on {GPU}"
    assert on_disk.uid == 1000, f"{NOTEBOOKS}/hello.ipynb on {GPU} is owned by uid {on_disk.uid}, not 1000 (jovyan)"
    cells = json.loads(on_disk.content_string)["cells"]
    # nbformat keeps a cell's source on disk as a string or a list of lines.
    sources = [cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"]) for cell in cells]
    assert sources == [source], f"{NOTEBOOKS}/hello.ipynb holds {cells}"
    back = client.api("GET", f"/api/contents/{prefix}hello.ipynb")
    assert back["content"]["cells"][0]["source"] == source, back


# -- the seed's troubles are gone from the node --------------------------------------------------------
def test_the_node_has_egress_and_no_stale_proxy():
    gpu = host(GPU)
    env = gpu.run("env -i HOME=/root PATH=/usr/bin:/bin bash -lc env")
    proxies = [line for line in env.stdout.splitlines() if re.match(r"(?i)(http|https|ftp|all)_proxy=", line)]
    assert not proxies, f"a login shell on {GPU} still has {proxies}"
    probe = gpu.run(f"env -i HOME=/root PATH=/usr/bin:/bin bash -lc 'curl -sS -m 10 {PROBE_URL}'")
    assert probe.rc == 0 and PROBE_TOKEN in probe.stdout, \
        f"{GPU} cannot fetch the lab's probe page from a login shell: {probe.stderr or probe.stdout[:300]}"

"""The whole flow on a fleet of two gpu nodes, judged as the user sees it from the controller: each
node's Jupyter answers through Tengine on jump under its own path (http://<jump>:8888/<node>/, one
port and nothing else), asks for that node's own token (the other node's is refused), runs code in
a kernel in the container on that node over the proxied WebSocket, keeps notebooks on the node's
disk, and renders in a real browser; the one-node URL (http://<jump>:8888/) leads to the first
node; the nodes' own ports stay private; the second run built nothing; the summary names every URL.

Each token is the one the flow generated into the lab's state folder (.lab/<lab>/jupyter_tokens/<node>).
tests/test_molecule.py writes each Molecule step's output to artifacts/molecule/site.log before
this verifier runs; the rebuild test reads it. test_site_grow.py (run after this file) adds a third
node to the inventory and removes it again.
"""
import json
import re
import socket
import uuid
from pathlib import Path

import pytest
from jupyter_probe import Jupyter, chromium, read_png
from labhosts import GPUS, JUMP_IP, JUMP_PRIVATE_IP, LAB_VARS, LOG, PROBE_TOKEN, PROBE_URL, PROJECT, RUNNER, host

LAB_STATE = Path(LAB_VARS["ansible_control_path_dir"]).parent
PORT = 8888
ROOT_URL = f"http://{JUMP_IP}:{PORT}/"
CONTAINER = "hpcdl-jupyter"
NOTEBOOKS = "/srv/jupyter/notebooks"  # on each node; /home/jovyan/work in the container
STAMP = "/usr/local/src/hpcdl-tengine/build.stamp.json"
BLOCK = "/usr/local/nginx/conf/hpcdl.d/reverse_proxy.conf"
SCREENSHOT = PROJECT / "artifacts" / "site" / "notebook-tree.png"
COMPILE = re.compile(r"TASK \[hpcdl\.gpu\.tengine : Compile\] \**[ \t]*\n(\w+): \[jump\]")


def node_ip(node):
    return RUNNER.get_variables(node)["ansible_host"]


def url(node):
    return f"{ROOT_URL}{node}/"


def token(node):
    path = LAB_STATE / "jupyter_tokens" / node
    assert path.is_file(), f"no token file at {path}: the flow generates one per node (ansible.builtin.password)"
    words = path.read_text().split()
    assert words, f"{path} is empty"
    return words[0]  # the password lookup may add " salt=..." after it


def jupyter(node, with_token=True):
    return Jupyter(JUMP_IP, PORT, token(node) if with_token else None, prefix=f"/{node}/")


def diagnostics(node):
    """What the node and the proxy say (only evaluated when an assertion fails)."""
    gpu, jump = host(node), host("jump")
    parts = [
        gpu.run(f"docker ps -a --filter name={CONTAINER} --format '{{{{.Status}}}} {{{{.Ports}}}}'"),
        gpu.run(f"docker logs --tail 30 {CONTAINER} 2>&1"),
        jump.run("tail -n 15 /usr/local/nginx/logs/error.log"),
    ]
    return "\n".join(f"--- {p.command}\n{p.stdout}{p.stderr}" for p in parts)


def test_the_fleet_has_two_nodes():
    assert GPUS == ["gpu1", "gpu2"], f"the site scenario runs two gpu nodes (HPCDL_LAB_GPUS=2), not {GPUS}"
    assert token("gpu1") != token("gpu2"), "the two nodes have the same token: each must have its own"


@pytest.fixture(scope="module", params=GPUS)
def notebook_folder(request):
    """A file the test writes into the notebook folder on a node (removed afterwards), and the API path of
    that folder as the server sees it (/home/jovyan/work: "work/" under a root of /home/jovyan, or "" when
    the server's root is the folder itself): (node, prefix, name, content)."""
    node = request.param
    name, content = f"hpcdl-site-check-{uuid.uuid4().hex[:12]}.txt", uuid.uuid4().hex
    gpu = host(node)
    written = gpu.run(f"printf %s {content} > {NOTEBOOKS}/{name} && chmod 0644 {NOTEBOOKS}/{name}")
    assert written.rc == 0, f"could not write into {NOTEBOOKS} on {node}: {written.stderr}"
    try:
        client = jupyter(node)
        found = {prefix: client.request("GET", f"/api/contents/{prefix}{name}?content=0").status
                 for prefix in ("work/", "")}
        prefixes = [prefix for prefix, status in found.items() if status == 200]
        assert prefixes, (f"{NOTEBOOKS}/{name}, written on {node}, is neither work/{name} nor {name} to the "
                          f"contents API under {url(node)} (HTTP {found}): the folder is not mounted at "
                          f"/home/jovyan/work\n{diagnostics(node)}")
        yield node, prefixes[0], name, content
    finally:
        gpu.run(f"rm -f {NOTEBOOKS}/{name}")


# -- 1. each node's login page, under its own path -----------------------------------------------------
@pytest.mark.parametrize("node", GPUS)
def test_the_login_page_answers_through_the_proxy_under_the_nodes_path(node):
    resp, chain = jupyter(node, with_token=False).get_following("/")
    assert resp.status == 200, f"GET {url(node)} (redirects {chain}) ended in {resp}\n{diagnostics(node)}"
    assert chain[-1].startswith(f"/{node}/login"), \
        f"GET {url(node)} without the token did not end at its login page: {chain}"
    assert re.search(r"<title>\s*Jupyter[^<]*</title>", resp.body), f"not Jupyter's page: {resp.body[:600]!r}"
    assert re.search(rf'<form action="/{node}/login[^"]*" method="post"', resp.body), \
        f"no login form posting to /{node}/login on the page (is base_url /{node}/?)"
    assert 'id="password_input"' in resp.body and 'name="_xsrf"' in resp.body, \
        f"the login page has no token/password field (or no XSRF field): {resp.body[:2000]!r}"
    # Tengine (nginx) answers, not Jupyter's own server: the page came through the proxy.
    assert re.match(r"(Tengine|nginx)", resp.headers.get("server", "")), \
        f"the answer did not come through Tengine (Server: {resp.headers.get('server')!r})"


def test_the_one_node_urls_lead_to_the_first_node():
    """http://<jump>:8888/ and /tree?token=... (a one-node setup's URLs) are redirected under /gpu1/."""
    first = GPUS[0]
    client = Jupyter(JUMP_IP, PORT)
    root = client.request("GET", "/")
    assert root.status == 307 and root.headers.get("location", "").endswith(f"/{first}/"), \
        f"GET {ROOT_URL} should be redirected (307) to /{first}/: {root} {root.headers}"
    resp, chain = client.get_following(f"/tree?token={token(first)}")
    assert chain[1] == f"/{first}/tree?token={token(first)}", f"/tree?token= was redirected to {chain[1:]}"
    assert resp.status == 200 and 'id="password_input"' not in resp.body, \
        f"/tree with {first}'s token did not open {first}'s tree ({chain[-1]}: {resp})"


# -- 2. authentication: each node its own token ------------------------------------------------------
@pytest.mark.parametrize("node", GPUS)
@pytest.mark.parametrize("path", ["/api/kernels", "/api/contents"])
def test_the_api_refuses_without_the_token(node, path):
    resp = jupyter(node, with_token=False).request("GET", path, auth=False)
    assert resp.status == 403, f"without the token, {url(node)}{path[1:]} should be refused: {resp}"


@pytest.mark.parametrize("node", GPUS)
def test_the_api_refuses_a_wrong_token_and_the_other_nodes_token(node):
    wrong = Jupyter(JUMP_IP, PORT, "hpcdl-not-the-token-" + uuid.uuid4().hex, prefix=f"/{node}/")
    assert wrong.request("GET", "/api/kernels").status == 403, "a wrong token was accepted"
    other = next(n for n in GPUS if n != node)
    resp = Jupyter(JUMP_IP, PORT, token(other), prefix=f"/{node}/").request("GET", "/api/kernels")
    assert resp.status == 403, f"{other}'s token opened {node}'s notebook: {resp}"


@pytest.mark.parametrize("node", GPUS)
def test_the_api_answers_with_the_token(node):
    resp = jupyter(node).request("GET", "/api/status")
    assert resp.status == 200, f"with {node}'s token, {url(node)}api/status: {resp}\n{diagnostics(node)}"
    assert "started" in json.loads(resp.body), resp.body


# -- 3. code runs in a kernel on each node, over the WebSocket proxied under its path -------------------
def test_code_runs_in_a_kernel_in_the_container_on_the_node(notebook_folder):
    node, _prefix, name, content = notebook_folder
    gpu = host(node)
    container_hostname = gpu.check_output(f"docker inspect --format '{{{{.Config.Hostname}}}}' {CONTAINER}")
    client = jupyter(node)
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
                f"the kernel runs on {second.stdout.strip()!r}, not in {CONTAINER} ({container_hostname}) on {node}"
            assert second.results == [repr(content)], \
                f"the kernel read {second.results} from work/{name}, not what the test wrote on {node} ({content!r})"
    finally:
        deleted = client.delete_kernel(kernel)
    assert deleted.status == 204, f"DELETE {url(node)}api/kernels/{kernel}: {deleted}"
    assert kernel not in {k["id"] for k in client.api("GET", "/api/kernels")}, "the kernel is still running"


# -- 4. a real browser, on the second node's path ------------------------------------------------------
def test_a_browser_renders_the_notebook_tree(notebook_folder):
    node, prefix, name = notebook_folder[:3]
    if node != GPUS[-1]:
        pytest.skip(f"the browser check runs on {GPUS[-1]}'s path (the prefixed one that is not the first)")
    page = f"{url(node)}tree?token={token(node)}"
    dom = chromium(page, "--dump-dom", allow_address=JUMP_IP).stdout
    assert 'id="password_input"' not in dom, f"chromium got the login page at {url(node)}tree, not the notebook tree"
    assert re.search(r'"notebookPage":\s*"tree"', dom), f"not Notebook 7's tree page: {dom[:1500]!r}"
    assert re.search(rf'"baseUrl":\s*"/{node}/"', dom), f"the page's baseUrl is not /{node}/: {dom[:1500]!r}"
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


# -- 5. only the proxy is public: one port, one location per node ---------------------------------------
@pytest.mark.parametrize("node", GPUS)
def test_the_node_port_is_not_reachable_from_the_controller(node):
    with pytest.raises(OSError):
        socket.create_connection((node_ip(node), 80), timeout=3).close()


@pytest.mark.parametrize("node", GPUS)
def test_the_node_serves_jupyter_on_its_private_address_only(node):
    gpu, ip = host(node), node_ip(node)
    assert gpu.socket(f"tcp://{ip}:80").is_listening, \
        f"nothing listens on {ip}:80 on {node}\n{gpu.run('ss -ltn').stdout}"
    assert not gpu.socket("tcp://0.0.0.0:80").is_listening, f"{node} listens on 0.0.0.0:80 (every network)"
    assert not gpu.socket("tcp://:::80").is_listening, f"{node} listens on [::]:80 (every network)"
    ports = gpu.check_output(f"docker port {CONTAINER}").splitlines()
    assert ports == [f"8888/tcp -> {ip}:80"], f"{CONTAINER} publishes {ports}"
    local = gpu.run(f"curl --noproxy '*' -sS -m 5 -o /dev/null -w '%{{http_code}}' http://{ip}:80/{node}/api/status")
    assert local.stdout == "403", f"Jupyter on {ip}:80/{node}/ (from {node}): {local.stdout} {local.stderr}"


def test_tengine_has_one_location_per_node_and_one_port():
    block = host("jump").file(BLOCK).content_string
    locations = re.findall(r"^\s*location\s+(\S+)\s*\{", block, re.M)
    assert locations == [f"/{n}/" for n in GPUS] + ["/"], f"{BLOCK} has the locations {locations}"
    for node in GPUS:
        assert f"proxy_pass http://{node_ip(node)}:80;" in block, \
            f"{BLOCK} does not proxy /{node}/ to {node_ip(node)}:80"
    assert re.findall(r"^\s*listen\s+(\S+);", block, re.M) == [str(PORT)], "the proxy listens on more than one port"


@pytest.mark.parametrize(("source", "target"), [("gpu", "private"), ("internet", "public")])
def test_the_proxy_port_is_open_only_to_the_controller(source, target):
    name = GPUS[0] if source == "gpu" else "internet"
    address = JUMP_PRIVATE_IP if target == "private" else JUMP_IP
    assert jupyter(GPUS[0], with_token=False).request("GET", "/login").status == 200, \
        "the proxy does not answer the controller"
    tried = host(name).run(f"curl --noproxy '*' -sS -m 4 -o /dev/null -w '%{{http_code}}' "
                           f"http://{address}:{PORT}/{GPUS[0]}/login")
    assert tried.rc != 0, (f"{name} reached the proxy at {address}:{PORT} (HTTP {tried.stdout}); "
                           f"only the controller may: {host('jump').run('iptables -S INPUT').stdout}")


# -- 6. the second run built nothing; the summary names every URL ----------------------------------------
def log_sections():
    """[(action, seconds, text)] of artifacts/molecule/<scenario>.log, in the order the steps ran (this
    file's tests also run in molecule/platforms)."""
    scenario = LOG.stem
    assert LOG.is_file(), (f"{LOG} is missing: run the scenario through tests/test_molecule.py "
                           f"(.venv/bin/python -m pytest tests/test_molecule.py -k {scenario}), which logs each step")
    parts = re.split(rf"^===== molecule (\S+) -s {scenario} \(([0-9.]+) s, rc=-?\d+\)\n", LOG.read_text(), flags=re.M)
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


def test_the_summary_names_every_url_and_no_token():
    converge = [section[2] for section in log_sections() if section[0] == "converge"][-1]
    assert "TASK [Print the summary]" in converge, "the converge printed no summary (playbooks/summary.yml)"
    summary = converge[converge.rfind("TASK [Print the summary]"):]
    flat = " ".join(summary.split())  # the YAML result format folds long lines
    for node in GPUS:
        assert re.search(rf"{node}: Jupyter \S+ answers at {re.escape(url(node))} ", flat), \
            f"the summary does not say that {node}'s Jupyter answers at {url(node)}:\n{summary[:3000]}"
        assert token(node) not in converge, f"{node}'s token was printed in the converge"
    assert f"redirected to the same path under {url(GPUS[0])}" in flat, \
        f"the summary does not name the redirect:\n{summary[:3000]}"


# -- 7. notebooks are kept on the node ---------------------------------------------------------------
def test_a_notebook_saved_through_the_api_is_kept_on_the_node(notebook_folder):
    node, prefix = notebook_folder[:2]
    client = jupyter(node)
    source = f"print('saved by the hpcdl site test on {node} {uuid.uuid4().hex}')"
    saved = client.save_notebook(f"{prefix}hello.ipynb", [source])
    assert saved["path"] == f"{prefix}hello.ipynb", saved
    on_disk = host(node).file(f"{NOTEBOOKS}/hello.ipynb")
    assert on_disk.exists, f"{prefix}hello.ipynb was saved, but {NOTEBOOKS}/hello.ipynb is not on {node}"
    assert on_disk.uid == 1000, f"{NOTEBOOKS}/hello.ipynb on {node} is owned by uid {on_disk.uid}, not 1000 (jovyan)"
    cells = json.loads(on_disk.content_string)["cells"]
    # nbformat keeps a cell's source on disk as a string or a list of lines.
    sources = [cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"]) for cell in cells]
    assert sources == [source], f"{NOTEBOOKS}/hello.ipynb on {node} holds {cells}"
    back = client.api("GET", f"/api/contents/{prefix}hello.ipynb")
    assert back["content"]["cells"][0]["source"] == source, back


# -- the seed's troubles are gone from every node --------------------------------------------------------
@pytest.mark.parametrize("node", GPUS)
def test_the_node_has_egress_and_no_stale_proxy(node):
    gpu = host(node)
    env = gpu.run("env -i HOME=/root PATH=/usr/bin:/bin bash -lc env")
    proxies = [line for line in env.stdout.splitlines() if re.match(r"(?i)(http|https|ftp|all)_proxy=", line)]
    assert not proxies, f"a login shell on {node} still has {proxies}"
    probe = gpu.run(f"env -i HOME=/root PATH=/usr/bin:/bin bash -lc 'curl -sS -m 10 {PROBE_URL}'")
    assert probe.rc == 0 and PROBE_TOKEN in probe.stdout, \
        f"{node} cannot fetch the lab's probe page from a login shell: {probe.stderr or probe.stdout[:300]}"

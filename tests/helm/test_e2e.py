"""The rendered chart run by `podman kube play` (podman 4.3, as root, the
image the test run built: WS_IMAGE): an ssh login through the hostPort on
127.0.0.1 runs a command; a file in the home and the host key survive
`podman kube down` + `podman kube play`; the helm test pod passes against
the server and fails against something that is not SSH; podman mode's
seccomp profile allows what `podman build` needs; the agent sidecar's deploy
key signs for sessions; the image and the chart that `make release` pushes to
a registry (Debian's docker-registry on 127.0.0.1) run from that registry.

podman kube play 4.3.1 differs from a cluster in ways these tests work
around openly, on a copy of the rendered objects (tests/helm/test_render.py
checks the real layout):
- Secrets: podman 4.3.1 panics on a Secret volume without `optional`; with
  `optional: true` the files are missing (or keep the base64 text), and
  stringData is dropped.  For podman only,
  every Secret becomes a ConfigMap holding the decoded data, and every
  secret volume a configMap volume with the same items.
- podman makes a named volume for each ConfigMap and keeps it after `kube
  down`; the kubelet builds Secret and ConfigMap volumes afresh from the API
  objects, so the tests remove those volumes between plays.
- A PersistentVolumeClaim becomes a named volume, but a second play of a
  claim whose volume exists fails ("volume already exists"): the second play
  leaves the claim out and the pod mounts the existing volume, as a pod
  re-created by Kubernetes mounts the bound claim.
- No Service (no cluster network): the chart's hostPort, bound to 127.0.0.1.
- The helm test pod reaches the server through the host network at the
  hostPort instead of the Service's DNS name.
- podman ignores seccompProfile; podman mode's Localhost profile is given
  with the legacy pod annotation and --seccomp-profile-root (the chart's
  files/ directory stands in for the kubelet's seccomp directory).
  podman mode's `hostUsers: false` makes podman ask for an automatic user
  namespace, which needs /etc/subuid ranges for the user "containers" that
  this machine does not have: the copy leaves it out.
- podman ignores fsGroup and gives an emptyDir (a named volume) to the uid
  of a container that mounts it, mode 0755, where the kubelet makes a 0777
  directory: an emptyDir that several containers share (the agent socket's)
  becomes a 0777 hostPath directory in the test's temporary directory.
- podman 4.3 names an emptyDir's volume after the pod's volume ("run",
  "tmp"): one volume for every pod on the machine, kept after `kube down`,
  given to the uid of the first container that mounts it.  The kubelet
  makes each pod's emptyDirs afresh; the copy names each emptyDir uniquely
  and `down` removes them.
- podman adds its own passwd entry for the pod's uid (kube play has no
  --passwd=false), named by the number: `id -un` shows the uid here, where
  Kubernetes shows the workspace user; $USER is the login name either way.
"""
import base64
import copy
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
import yaml

from conftest import CHART, IMAGE, PODMAN_CONF, REPO, find, free_port, podman, wait_for

START_TIMEOUT = 60

pytestmark = [
    pytest.mark.skipif(os.environ.get("WS_IMAGE_TESTS", "1") == "0",
                       reason="WS_IMAGE_TESTS=0: no image, no podman tests"),
    pytest.mark.skipif(os.getuid() != 0, reason="podman kube play runs as root here"),
]


@pytest.fixture(scope="module", autouse=True)
def image_ready():
    assert podman("image", "exists", IMAGE, check=False).returncode == 0, \
        f"no image {IMAGE}: tests/run-all.sh builds it (or make image)"


SCRATCH = None


@pytest.fixture(scope="module", autouse=True)
def scratch():
    """Host directories that stand in for shared emptyDirs."""
    global SCRATCH
    SCRATCH = tempfile.mkdtemp(prefix="ws-helm-e2e-")
    yield SCRATCH
    shutil.rmtree(SCRATCH, ignore_errors=True)


def for_podman(objects, keep_claims=True, seccomp_annotation=False):
    """A copy of the rendered objects that podman kube play 4.3 runs (see
    the module docstring for each change)."""
    out = []
    for obj in copy.deepcopy(objects):
        kind = obj["kind"]
        if kind == "Service" or (kind == "PersistentVolumeClaim" and not keep_claims):
            continue
        if kind == "Secret":
            obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"],
                   "data": {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}}
        if kind in ("Deployment", "Pod"):
            tmpl = obj["spec"]["template"] if kind == "Deployment" else obj
            for vol in tmpl["spec"].get("volumes", []):
                if "secret" in vol:
                    s = vol.pop("secret")
                    vol["configMap"] = {"name": s["secretName"],
                                        **{k: s[k] for k in ("items", "defaultMode") if k in s}}
            tmpl["spec"].pop("hostUsers", None)
            mounts = [m["name"] for c in tmpl["spec"]["containers"]
                      for m in c.get("volumeMounts", [])]
            for vol in tmpl["spec"].get("volumes", []):
                if "emptyDir" in vol and mounts.count(vol["name"]) > 1:
                    path = tempfile.mkdtemp(prefix=f"emptydir-{vol['name']}-", dir=SCRATCH)
                    os.chmod(path, 0o777)
                    del vol["emptyDir"]
                    vol["hostPath"] = {"path": path, "type": "Directory"}
                elif "emptyDir" in vol:
                    rename_volume(tmpl["spec"], vol["name"],
                                  f"{EMPTYDIR_PREFIX}{uuid.uuid4().hex[:10]}-{vol['name']}")
            profile = tmpl["spec"].get("securityContext", {}).get("seccompProfile", {})
            if seccomp_annotation and profile.get("type") == "Localhost":
                tmpl["metadata"].setdefault("annotations", {})[
                    "seccomp.security.alpha.kubernetes.io/pod"] = \
                    "localhost/" + os.path.basename(profile["localhostProfile"])
        out.append(obj)
    return out


EMPTYDIR_PREFIX = "emptydir-"


def rename_volume(spec, old, new):
    for vol in spec.get("volumes", []):
        if vol["name"] == old:
            vol["name"] = new
    for c in spec.get("initContainers", []) + spec["containers"]:
        for m in c.get("volumeMounts", []):
            if m["name"] == old:
                m["name"] = new


def ephemeral_volumes(objects):
    """The podman volumes a play of these objects makes afresh for its pods:
    the ConfigMaps' and the emptyDirs' (for_podman's names)."""
    names = []
    for o in objects:
        if o["kind"] == "ConfigMap":
            names.append(o["metadata"]["name"])
        elif o["kind"] in ("Deployment", "Pod"):
            spec = (o["spec"]["template"] if o["kind"] == "Deployment" else o)["spec"]
            names += [v["name"] for v in spec.get("volumes", [])
                      if "emptyDir" in v and v["name"].startswith(EMPTYDIR_PREFIX)]
    return names


class Kube:
    """Plays object lists with podman and removes everything it made."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.files = []
        self.volumes = set()

    def play(self, objects, *options):
        path = os.path.join(self.tmp, f"play-{len(self.files)}.yaml")
        with open(path, "w") as f:
            yaml.safe_dump_all(objects, f)
        self.files.append(path)
        self.volumes.update(ephemeral_volumes(objects))
        self.volumes.update(o["metadata"]["name"] for o in objects
                            if o["kind"] == "PersistentVolumeClaim")
        podman("kube", "play", "--seccomp-profile-root", os.path.join(CHART, "files"), *options,
               path)
        return path

    def down(self, path, config_volumes=True):
        """kube down, and the volumes the next play makes afresh removed
        (ConfigMaps' unless config_volumes is False; emptyDirs' always)."""
        podman("kube", "down", path, check=False)
        with open(path) as f:
            objects = [o for o in yaml.safe_load_all(f) if o]
        names = [n for n in ephemeral_volumes(objects) if config_volumes or
                 n.startswith(EMPTYDIR_PREFIX)]
        if names:
            podman("volume", "rm", "-f", *names, check=False)

    def container(self, pod_prefix, name):
        r = podman("ps", "-a", "--format", "{{.Names}}")
        hits = [n for n in r.stdout.split() if n.startswith(pod_prefix) and n.endswith("-" + name)]
        assert len(hits) == 1, r.stdout
        return hits[0]

    def cleanup(self):
        for path in reversed(self.files):
            podman("kube", "down", path, check=False)
        if self.volumes:
            podman("volume", "rm", "-f", *sorted(self.volumes), check=False)


@pytest.fixture
def kube(tmp_path):
    k = Kube(str(tmp_path))
    yield k
    k.cleanup()


def render(helm4, client_key, port, values=None, release=None, skip_tests=True, chart=CHART):
    repo, tag = IMAGE.rsplit(":", 1)
    base = {"ssh": {"publicKeys": {"authorizedKeys": client_key[1]}},
            "image": {"repository": repo, "tag": tag, "pullPolicy": "Never"},
            "hostPort": {"enabled": True, "port": port, "hostIP": "127.0.0.1"}}
    for k, v in (values or {}).items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    release = release or f"wse2e-{uuid.uuid4().hex[:6]}"
    return release, helm4.template(base, release=release, namespace="e2e", chart=chart,
                                   extra=["--skip-tests"] if skip_tests else [])


def host_key_line(objects):
    """The chart's generated ed25519 host key (PKCS#8) as a known_hosts key
    and fingerprint, through openssl (this host's ssh-keygen cannot read
    PKCS#8 ed25519)."""
    pem = base64.b64decode(find(objects, "Secret", "-host-key")["data"]["hostkey"])
    der = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=pem,
                         capture_output=True, check=True).stdout
    blob = b"".join(len(p).to_bytes(4, "big") + p for p in (b"ssh-ed25519", der[-32:]))
    fp = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return "ssh-ed25519 " + base64.b64encode(blob).decode(), fp, pem


def ssh(client_key, port, known_hosts, command, user="developer", timeout=30):
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-p", str(port), "-i", client_key[0],
         "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
         "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-o", "StrictHostKeyChecking=yes",
         "-o", f"UserKnownHostsFile={known_hosts}", f"{user}@127.0.0.1", command],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def wait_login(kube, client_key, port, known_hosts, pod_prefix):
    """Logs in as soon as the pod serves SSH (bounded); fails with the
    container's log if it exited or never answered."""
    name = kube.container(pod_prefix, "workspace")

    def attempt():
        r = ssh(client_key, port, known_hosts, "true")
        if r.returncode == 0:
            return True
        state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        assert state == "running", f"{name} is {state}:\n{logs(name)}"
        time.sleep(0.2)
        return False
    start = time.monotonic()
    assert wait_for(attempt, START_TIMEOUT), f"no login after {START_TIMEOUT}s:\n{logs(name)}"
    return name, time.monotonic() - start


def logs(name):
    r = podman("logs", name, check=False)
    return r.stdout + r.stderr


def test_login_and_persistence_across_kube_down_and_play(helm4, client_key, kube, tmp_path):
    port = free_port()
    release, objects = render(helm4, client_key, port)
    pub, fp, pem = host_key_line(objects)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {pub}\n")
    stamp = uuid.uuid4().hex

    first = kube.play(for_podman(objects))
    name, took = wait_login(kube, client_key, port, known, release)
    print(f"first start: login after {took:.1f}s")
    # the known_hosts holds only the chart's key: StrictHostKeyChecking proves it
    r = ssh(client_key, port, known,
            f"echo {stamp} > ~/kept.txt; echo $USER; pwd; touch /etc/x 2>&1; "
            "cat /etc/ssh-workspace/hooks/hooks.conf")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "developer" and lines[1] == "/home/developer", r.stdout
    assert "Read-only file system" in lines[2]
    assert "agent_forwarding = yes" in lines
    log = logs(name)
    assert f"host key {fp}" in log and "WARNING" not in log, log
    assert '"event":"auth"' in log
    # the probe's command (podman made it the health check) speaks SSH
    assert podman("healthcheck", "run", name, check=False).returncode == 0
    # the home volume holds the file, and nothing of the host key
    claim = find(objects, "PersistentVolumeClaim")["metadata"]["name"]
    home = podman("volume", "inspect", "--format", "{{.Mountpoint}}", claim).stdout.strip()
    with open(os.path.join(home, "kept.txt")) as f:
        assert f.read().strip() == stamp
    key_body = b"".join(pem.strip().splitlines()[1:-1])
    for root, _dirs, files in os.walk(home):
        for fname in files:
            path = os.path.join(root, fname)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    assert key_body not in f.read(), f"host key material in {path}"

    kube.down(first)
    assert podman("volume", "exists", claim, check=False).returncode == 0
    kube.play(for_podman(objects, keep_claims=False))
    name, took = wait_login(kube, client_key, port, known, release)
    print(f"second start: login after {took:.1f}s")
    r = ssh(client_key, port, known, "cat ~/kept.txt; cat ~/.ssh-workspace-initialized")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == stamp
    log = logs(name)
    assert f"host key {fp}" in log and "initialised home" not in log, log


class NotSSH:
    """A TCP server on 127.0.0.1 that answers like a web server."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    def close(self):
        self.sock.close()


def helm_test_pod(objects, host, port, tries):
    pod = copy.deepcopy(find(objects, "Pod"))
    pod["spec"]["hostNetwork"] = True
    for e in pod["spec"]["containers"][0]["env"]:
        e["value"] = {"WS_TEST_HOST": host, "WS_TEST_PORT": str(port),
                      "WS_TEST_TRIES": str(tries)}.get(e["name"], e["value"])
    return pod


def run_test_pod(kube, pod):
    kube.play(for_podman([pod]))
    name = kube.container(pod["metadata"]["name"], "ssh-check")

    def exited():
        state = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                       name).stdout.split()
        return state if state[0] == "exited" else None
    state = wait_for(exited, 90)
    assert state, f"the test pod did not finish:\n{logs(name)}"
    return int(state[1]), logs(name)


def test_helm_test_pod_speaks_ssh(helm4, client_key, kube, tmp_path):
    port = free_port()
    release, objects = render(helm4, client_key, port, {"persistence": {"enabled": False}},
                              skip_tests=False)
    pub, fp, _ = host_key_line(objects)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {pub}\n")
    workspace = [o for o in objects if o["kind"] != "Pod"]
    kube.play(for_podman(workspace))
    wait_login(kube, client_key, port, known, release)

    rc, out = run_test_pod(kube, helm_test_pod(objects, "127.0.0.1", port, 3))
    assert rc == 0, out
    assert f"host key: 256 {fp} [127.0.0.1]:{port} (ED25519)" in out, out
    assert "speaks SSH and accepts only public keys" in out

    # something that accepts TCP but is no SSH server fails the test
    not_ssh = NotSSH()
    try:
        pod = helm_test_pod(objects, "127.0.0.1", not_ssh.port, 1)
        pod["metadata"]["name"] += "-neg"
        rc, out = run_test_pod(kube, pod)
    finally:
        not_ssh.close()
    assert rc == 1, out
    assert f"FAIL: no SSH host key from 127.0.0.1:{not_ssh.port}" in out, out


@pytest.mark.parametrize("podman_mode", [True, False], ids=["podman-mode", "default"])
def test_podman_mode_profile_allows_what_podman_build_needs(helm4, client_key, kube, tmp_path,
                                                            podman_mode):
    """podman build's RUN steps chroot inside a user namespace: allowed by
    the chart's Localhost profile, refused under the runtime's default one."""
    port = free_port()
    release, objects = render(helm4, client_key, port, {"persistence": {"enabled": False},
                                                        "podman": {"enabled": podman_mode}})
    pub, _, _ = host_key_line(objects)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {pub}\n")
    kube.play(for_podman(objects, seccomp_annotation=True))
    wait_login(kube, client_key, port, known, release)
    r = ssh(client_key, port, known,
            "unshare --user --map-root-user /usr/sbin/chroot / true && echo chroot-ok; "
            "podman info --format '{{.Host.Security.Rootless}}'", timeout=60)
    if podman_mode:
        assert r.returncode == 0 and r.stdout.splitlines() == ["chroot-ok", "true"], \
            r.stdout + r.stderr
    else:
        assert "chroot-ok" not in r.stdout, r.stdout
        assert "Operation not permitted" in r.stderr, r.stderr


def play_with_sidecar(helm4, client_key, kube, tmp_path, passphrase):
    """The chart with the agent sidecar and a new deploy key (with this
    passphrase, "" for none) in its Secret, played and logged into; returns
    (port, known_hosts, release, deploy key path, workspace container)."""
    port = free_port()
    release, objects = render(helm4, client_key, port, {
        "persistence": {"enabled": False},
        "agent": {"sidecar": {"enabled": True, "keysSecret": "deploy-keys"}}})
    deploy_key = tmp_path / "deploy"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "deploy",
                    "-f", str(deploy_key)], check=True)
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "deploy-keys"}, "type": "Opaque",
              "data": {"deploy": base64.b64encode(deploy_key.read_bytes()).decode()}}
    pub, _, _ = host_key_line(objects)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {pub}\n")
    kube.play(for_podman([secret] + objects))
    workspace, _ = wait_login(kube, client_key, port, known, release)
    return port, known, release, deploy_key, workspace


def test_agent_sidecar_signs_for_the_workspace(helm4, client_key, kube, tmp_path):
    """The deploy key reaches sessions as SSH_AUTH_SOCK through the sidecar;
    the workspace container has no mount of the key files."""
    port, known, release, deploy_key, _ = play_with_sidecar(helm4, client_key, kube, tmp_path, "")
    fp = subprocess.run(["ssh-keygen", "-l", "-f", str(deploy_key)], check=True,
                        capture_output=True, text=True).stdout.split()[1]
    agent = kube.container(release, "workspace-agent")

    def listed():
        r = ssh(client_key, port, known, "id -u; echo $SSH_AUTH_SOCK; ssh-add -l")
        return r if r.returncode == 0 else None
    r = wait_for(listed, 30)
    assert r, f"no agent in the session:\n{logs(agent)}"
    lines = r.stdout.splitlines()
    assert lines[1] == f"/tmp/ssh-workspace-agent-{lines[0]}/agent.sock"
    assert fp in lines[2] and "deploy" in lines[2], r.stdout
    # sign works, adding or removing keys does not; the key files are not there
    r = ssh(client_key, port, known,
            "echo data > /tmp/d && ssh-keygen -Y sign -n test -f <(ssh-add -L) /tmp/d "
            ">/dev/null 2>&1 && echo signed; ssh-add -D 2>&1; "
            "ls /etc/ssh-workspace/deploy-keys 2>&1")
    out = r.stdout + r.stderr
    assert "signed" in out, out
    assert "All identities removed" not in out, out
    assert "No such file or directory" in out, out


def test_release_to_a_registry_then_play_the_chart_and_image_from_it(helm4, client_key, kube,
                                                                    registry, tmp_path):
    """`make release` (helm/release.sh) pushes the image and the packaged
    chart to a registry (Debian's docker-registry on 127.0.0.1, plain HTTP);
    the chart pulled back from it, rendered with only image.repository set,
    runs under `podman kube play`, which pulls the image by a name only the
    registry has: a login proves the pod runs it."""
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        meta = yaml.safe_load(f)
    repository = f"{registry.host}/ssh-workspace"
    pushed = f"{repository}:{meta['appVersion']}"
    dest = tmp_path / "release"
    env = dict(helm4.env, HELM=helm4.path, PLAIN_HTTP="1", DEST=str(dest))
    if PODMAN_CONF:
        env["CONTAINERS_CONF"] = PODMAN_CONF
    # the make target where ./configure made the Makefile, else its script
    if os.path.exists(os.path.join(REPO, "Makefile")):
        cmd = ["make", "-s", "-C", REPO, "release", f"REGISTRY={registry.host}", f"IMAGE={IMAGE}"]
    else:
        cmd = [os.path.join(REPO, "helm", "release.sh"), registry.host, IMAGE]
    start = time.monotonic()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    print(f"release: {time.monotonic() - start:.1f}s")
    assert r.returncode == 0, f"{r.stdout}{r.stderr}\n{registry.log()}"
    found = registry.manifest("ssh-workspace", meta["appVersion"])
    assert found, registry.log()
    assert (dest / "image.digest").read_text().strip() == found[0]
    assert f"release: image {pushed}@{found[0]}" in r.stdout, r.stdout
    assert (f"release: chart oci://{registry.host}/charts/ssh-workspace "
            f"--version {meta['version']}") in r.stdout, r.stdout

    pulled = tmp_path / "pulled"
    pulled.mkdir()
    helm4.run("pull", f"oci://{registry.host}/charts/ssh-workspace", "--version",
              meta["version"], "--plain-http", "--destination", str(pulled))
    tgz = f"ssh-workspace-{meta['version']}.tgz"
    assert (pulled / tgz).read_bytes() == (dest / tgz).read_bytes()

    # podman has the image under its local name only: kube play must pull
    podman("rmi", pushed, check=False)
    assert podman("image", "exists", pushed, check=False).returncode == 1
    port = free_port()
    release, objects = render(helm4, client_key, port, {
        "image": {"repository": repository, "tag": "", "pullPolicy": "IfNotPresent"},
        "persistence": {"enabled": False}}, chart=str(pulled / tgz))
    assert find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0][
        "image"] == pushed
    pub, _, _ = host_key_line(objects)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {pub}\n")
    try:
        kube.play(for_podman(objects), "--tls-verify=false")
        name, took = wait_login(kube, client_key, port, known, release)
        print(f"login after {took:.1f}s")
        assert podman("inspect", "--format", "{{.ImageName}}", name).stdout.strip() == pushed
        r = ssh(client_key, port, known, "echo $USER")
        assert r.returncode == 0 and r.stdout.strip() == "developer", r.stdout + r.stderr
    finally:
        kube.cleanup()
        podman("rmi", pushed, check=False)


def test_agent_sidecar_that_loads_no_key_keeps_running(helm4, client_key, kube, tmp_path):
    """A deploy key protected by a passphrase (the sidecar cannot enter it):
    the sidecar says so and keeps running (no restarts, so the pod stays
    ready), sessions still log in, without an agent, and the server logs the
    missing workspace agent socket as an agent_problem."""
    port, known, release, _, workspace = play_with_sidecar(helm4, client_key, kube, tmp_path,
                                                           "secret words")
    agent = kube.container(release, "workspace-agent")
    said = "could not load /etc/ssh-workspace/deploy-keys/deploy: it is protected by a passphrase"
    assert wait_for(lambda: said in logs(agent), 30), logs(agent)
    assert "workspace-agent: no key loaded from /etc/ssh-workspace/deploy-keys" in logs(agent)
    # an exit would show within a second of the message; give it three
    time.sleep(3)
    state = podman("inspect", "--format", "{{.State.Status}} {{.RestartCount}}",
                   agent).stdout.split()
    assert state == ["running", "0"], f"{agent}: {state}\n{logs(agent)}"
    r = ssh(client_key, port, known, "echo in; ssh-add -l; echo agent $?")
    assert r.stdout.splitlines()[0] == "in" and "agent 2" in r.stdout, r.stdout + r.stderr
    assert wait_for(lambda: '"event":"agent_problem"' in logs(workspace), 10), logs(workspace)
    problem = [ln for ln in logs(workspace).splitlines() if '"event":"agent_problem"' in ln][0]
    assert ('"problem":"workspace_socket"' in problem
            and '"reason":"no such socket"' in problem), problem
    assert podman("inspect", "--format", "{{.RestartCount}}", agent).stdout.strip() == "0"

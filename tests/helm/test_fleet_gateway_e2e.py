"""The fleet end to end under `podman kube play` (podman 4.3, as root, the
image the test run built: WS_IMAGE): the gateway Deployment of the chart's
fleet mode, driving workspaces through its Kubernetes backend
(ws-gateway-kube) against the stand-in API server
(tests/integration/kube_standin.py), whose StatefulSet controller has
podman play each workspace pod it makes.  Users alice and bob log in as the
chart's README says: `ssh alice@gw config`, then `ssh alice.ws` through the
ProxyJump it prints.  Her workspace is created on first use; scaled to 0
behind the gateway's back, the next login starts it again; stopped by her,
a login says how to start it and `start` does; its home survives both;
bob is refused it; `rm` removes it with its home.

What stands in for a cluster, openly (on copies of the rendered objects;
test_fleet.py checks the real layout), besides test_e2e.py's for_podman
rules (Secrets as ConfigMaps, a claim as a podman named volume):
- No API server: the stand-in, on 127.0.0.1 at a port of its own, with a
  CA made for the test.  The kubelet would mount the ServiceAccount's
  projected token, the cluster CA and the namespace at
  /var/run/secrets/kubernetes.io/serviceaccount and set
  KUBERNETES_SERVICE_HOST/PORT: here a hostPath directory holds `token` (the
  file the stand-in checks at every request: rotating it mid-test shows the
  gateway reads it again), `ca.crt` and `namespace`, and WS_KUBE_API names
  the stand-in.  RBAC is not enforced; the requests the stand-in saw are
  compared with `ws-gateway-kube requests`, which test_fleet.py compares
  with the chart's Role.
- No pod network: podman gives a played pod no address the gateway could
  reach the way a cluster's pod network does, so every pod here has
  hostNetwork: true.  The stand-in reports 127.0.0.1 as each workspace
  pod's IP, and the workspace's server listens on 127.0.0.1 at the port
  named ssh of the template (ssh.port, a free port of the test's); the
  gateway listens on 127.0.0.1 at another free port (WS_LISTEN on the
  copy; the chart's Service would route to its containerPort).  The
  copies have no container ports: podman 4.3 would map them, which it
  refuses on the host's network.  One port for all workspaces: only one
  runs at a time (asserted when one starts).
- No StatefulSet controller or kubelet: the stand-in's controller makes pod
  OBJECT-0 from the StatefulSet's template and, before it reports it
  Ready, plays it with podman (the Pod copy without its checksum
  annotations, which podman 4.3 refuses past 63 characters) with the two
  Secrets the backend created in the stand-in as ConfigMaps (binaryData:
  the host key is Dropbear's binary format) and the claim home-OBJECT-0 as
  a named volume, made on the first start and kept when the pod goes, as
  a bound claim is.  When the pod goes (stopped, or collected with its
  StatefulSet) `podman kube down` ends it; `rm` deletes the claim in the
  stand-in, and the test then removes the volume, as a provisioner
  would with reclaim policy Delete.
- The gateway's state claim: a named volume made before the play with its
  root root:GID, mode 2775, what the kubelet makes of a volume with
  fsGroup (podman ignores fsGroup): the gateway accepts group write by its
  own gid and keeps its state there.
- Names: each test has its own release and objectPrefix (w + 6 hex + '-'
  in place of ws-), so the podman pods and volumes of two runs never meet.
- No keeper test here (gateway.idleStop off): the stand-in's exec runs
  locally, not in the podman pod (test_gateway_kube_activity.py tests it).
"""
import copy
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

from conftest import IMAGE, REPO, find, free_port, podman, wait_for
from test_e2e import Kube, for_podman, image_ready, logs, scratch  # noqa: F401

# The stand-in lives with the backend's integration tests; its modules
# import each other by name, so their directory goes on the path (last:
# it shadows nothing of this directory's).
sys.path.append(os.path.join(REPO, "tests", "integration"))
from kube_standin import StandIn  # noqa: E402

pytestmark = [
    pytest.mark.skipif(os.environ.get("WS_IMAGE_TESTS", "1") == "0",
                       reason="WS_IMAGE_TESTS=0: no image, no podman tests"),
    pytest.mark.skipif(os.getuid() != 0, reason="podman kube play runs as root here"),
]

NAMESPACE = "fleet-e2e"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
START_TIMEOUT = 90   # a podman play until the server answers
SSH_TIMEOUT = 150    # one ssh command, a wake included (gateway.wakeTimeout 120)


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path],
                   check=True)
    with open(path + ".pub") as f:
        return f.read()


def banner(port, timeout=3):
    """The SSH identification line at 127.0.0.1:port, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"SSH-2.0-fleet-e2e-probe\r\n")
            line = s.makefile("rb").readline(256)
            return line.decode(errors="replace") if line.startswith(b"SSH-2.0-") else None
    except OSError:
        return None


def mounted(objects, spec):
    """The rendered ConfigMaps and Secrets that a pod spec's volumes name."""
    names = {v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v} | \
        {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    return [o for o in objects if o["kind"] in ("ConfigMap", "Secret")
            and o["metadata"]["name"] in names]


def host_network(spec):
    """The pod on the host's network: podman 4.3 turns a container's ports
    into port mappings, which it refuses there, so the copy has none (on
    the host's network they would only document the port)."""
    spec["hostNetwork"] = True
    for c in spec["containers"]:
        c.pop("ports", None)


def set_env(container, name, value):
    env = container.setdefault("env", [])
    env[:] = [e for e in env if e["name"] != name] + [{"name": name, "value": value}]


class Fleet:
    """The rendered chart, the stand-in, the gateway and its workspaces as
    podman pods; close() removes everything it made."""

    def __init__(self, helm4, root):
        self.root = root
        self.lock = threading.Lock()  # a workspace play against close()
        self.closing = False
        self.errors = []              # what went wrong in the controller's hooks
        self.failed = {}              # pod uid -> why its play failed (not tried again)
        self.volumes = set()          # named volumes made here
        self.played = {}              # workspace pod name -> its play file
        self.config_blocks = {}       # user -> the block `config` printed
        self.api = None
        for d in ("gateway", "workspaces"):
            os.makedirs(self.path(d))
        self.gateway_kube = Kube(self.path("gateway"))
        self.workspace_kube = Kube(self.path("workspaces"))
        self.keys = {u: (self.path(f"id_{u}"), keygen(self.path(f"id_{u}")))
                     for u in ("alice", "bob")}
        self.port = free_port()        # the workspaces' server (ssh.port)
        self.gateway_port = free_port()
        self.prefix = f"w{uuid.uuid4().hex[:6]}-"
        self.release = f"fgw{uuid.uuid4().hex[:6]}"
        repo, tag = IMAGE.rsplit(":", 1)
        self.objects = helm4.template({
            "fleet": {"enabled": True},
            "image": {"repository": repo, "tag": tag, "pullPolicy": "Never"},
            "users": {u: {"keys": pub} for u, (_, pub) in self.keys.items()},
            "ssh": {"port": self.port},
            "gateway": {"host": f"127.0.0.1:{self.gateway_port}", "idleStop": "off",
                        "wakeTimeout": SSH_TIMEOUT - 30,
                        "kubernetes": {"objectPrefix": self.prefix}}},
            release=self.release, namespace=NAMESPACE, extra=["--skip-tests"])

    def path(self, *parts):
        p = os.path.join(self.root, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def object_name(self, name):
        return self.prefix + name

    # --- the stand-in and its controller's hooks ---

    def start_api(self):
        d = self.path("api")
        os.makedirs(d)
        self.api = StandIn(d, namespace=NAMESPACE)
        # the token the stand-in checks is the file the gateway mounts
        self.sa_dir = self.path("serviceaccount")
        os.makedirs(self.sa_dir)
        os.chmod(self.sa_dir, 0o755)
        self.api.token_file = os.path.join(self.sa_dir, "token")
        self.api.set_token(self.api.token)
        shutil.copy(self.api.ca_file, os.path.join(self.sa_dir, "ca.crt"))
        with open(os.path.join(self.sa_dir, "namespace"), "w") as f:
            f.write(NAMESPACE)
        for f in os.listdir(self.sa_dir):
            os.chmod(os.path.join(self.sa_dir, f), 0o644)
        controller = self.api.controller
        controller.pod_ip = "127.0.0.1"
        controller.on_ready = self.workspace_up
        controller.on_gone = self.workspace_down

    def workspace_objects(self, pod):
        """What podman plays for the stand-in's pod (the module docstring)."""
        spec = copy.deepcopy(pod["spec"])
        host_network(spec)
        for c in spec["containers"]:
            if c["name"] == "workspace":
                set_env(c, "WS_LISTEN", f"127.0.0.1:{self.port}")
        meta = pod["metadata"]
        played = {"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": meta["name"], "labels": meta["labels"],
                               "annotations": {k: v for k, v in meta["annotations"].items()
                                               if not k.startswith("checksum/")}},
                  "spec": spec}
        secrets = []
        for vol in spec["volumes"]:
            if "secret" in vol:
                secret = self.api.store.get("secrets", vol["secret"]["secretName"])
                assert secret, f"{meta['name']}: no Secret {vol['secret']['secretName']}"
                secrets.append({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": secret["metadata"]["name"]},
                                "binaryData": secret["data"]})
        chart = [o for o in mounted(self.objects, spec) if o["kind"] == "ConfigMap"]
        return secrets + for_podman(chart + [played])

    def workspace_up(self, pod):
        """on_ready: plays the pod and returns once its server answers."""
        name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
        if uid in self.failed:
            raise AssertionError(self.failed[uid])
        try:
            with self.lock:
                assert not self.closing, "closing"
                assert not self.played, f"{name} starts while {sorted(self.played)} runs"
                for vol in spec_claims(pod["spec"]):
                    if podman("volume", "exists", vol, check=False).returncode != 0:
                        podman("volume", "create", vol)  # podman gives it to the pod's uid
                        self.volumes.add(vol)
                self.played[name] = self.workspace_kube.play(self.workspace_objects(pod))
            container = self.workspace_kube.container(name, "workspace")

            def up():
                if self.closing or banner(self.port):
                    return True
                state = podman("inspect", "--format", "{{.State.Status}}", container).stdout
                assert state.strip() == "running", f"{container} is {state}:\n{logs(container)}"
                time.sleep(0.3)
                return False
            assert wait_for(up, START_TIMEOUT), \
                f"{container}: no SSH after {START_TIMEOUT}s:\n{logs(container)}"
        except Exception as e:
            self.failed[uid] = f"workspace {name}: {e}"
            self.errors.append(self.failed[uid])
            raise

    def workspace_down(self, pod):
        """on_gone: the pod ends; its home volume stays."""
        try:
            with self.lock:
                path = self.played.pop(pod["metadata"]["name"], None)
                if path:
                    self.workspace_kube.down(path)
        except Exception as e:
            self.errors.append(f"workspace {pod['metadata']['name']} down: {e}")
            raise

    # --- the gateway ---

    def gateway_objects(self):
        deployment = copy.deepcopy(find(self.objects, "Deployment", "-gateway"))
        spec = deployment["spec"]["template"]["spec"]
        host_network(spec)
        spec["volumes"].append({"name": "serviceaccount",
                                "hostPath": {"path": self.sa_dir, "type": "Directory"}})
        [c] = spec["containers"]
        c["volumeMounts"].append({"name": "serviceaccount", "mountPath": SERVICE_ACCOUNT_DIR,
                                  "readOnly": True})
        set_env(c, "WS_LISTEN", f"127.0.0.1:{self.gateway_port}")
        set_env(c, "WS_KUBE_API", self.api.url)
        return for_podman(mounted(self.objects, spec) + [deployment], keep_claims=False)

    def start_gateway(self):
        deployment = find(self.objects, "Deployment", "-gateway")
        spec = deployment["spec"]["template"]["spec"]
        [claim] = [v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]
                   if "persistentVolumeClaim" in v]
        gid = spec["securityContext"]["fsGroup"]
        podman("volume", "create", "--opt", f"o=uid=0,gid={gid}", claim)
        self.volumes.add(claim)
        self.state = podman("volume", "inspect", "--format", "{{.Mountpoint}}",
                            claim).stdout.strip()
        os.chmod(self.state, 0o2775)
        self.gateway_kube.play(self.gateway_objects())
        self.gateway = self.gateway_kube.container(deployment["metadata"]["name"], "gateway")

        def up():
            if banner(self.gateway_port):
                return True
            state = podman("inspect", "--format", "{{.State.Status}}", self.gateway).stdout
            assert state.strip() == "running", f"{self.gateway} is {state}:\n{logs(self.gateway)}"
            time.sleep(0.3)
            return False
        assert wait_for(up, START_TIMEOUT), \
            f"the gateway: no SSH after {START_TIMEOUT}s:\n{logs(self.gateway)}"

    def close(self):
        self.closing = True
        if self.api:
            self.api.stop()
        with self.lock:
            self.workspace_kube.cleanup()
        self.gateway_kube.cleanup()
        if self.volumes:
            podman("volume", "rm", "-f", *sorted(self.volumes), check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    # --- users ---

    def known_gateway(self):
        """The gateway's host key line, checked against the fingerprint in
        its log (as a user compares what the first login shows)."""
        r = subprocess.run(["ssh-keyscan", "-T", "5", "-t", "ed25519", "-p",
                            str(self.gateway_port), "127.0.0.1"],
                           capture_output=True, text=True, timeout=30)
        [line] = [ln for ln in r.stdout.splitlines() if ln and not ln.startswith("#")]
        fp = subprocess.run(["ssh-keygen", "-l", "-f", "-"], input=line, capture_output=True,
                            text=True, check=True).stdout.split()[1]
        assert f"host key {fp}" in logs(self.gateway), logs(self.gateway)
        return line

    def client_config(self, user, known_lines, name):
        known = self.path(f"known_hosts-{name}")
        with open(known, "w") as f:
            f.write("".join(line + "\n" for line in known_lines))
        path = self.path(f"ssh_config-{name}")
        with open(path, "w") as f:
            f.write(self.config_blocks.get(user, "") if name != "boot" else "")
            f.write(f"Host *\n    IdentityFile {self.keys[user][0]}\n    IdentitiesOnly yes\n"
                    f"    IdentityAgent none\n    UserKnownHostsFile {known}\n"
                    "    StrictHostKeyChecking yes\n    BatchMode yes\n"
                    "    ConnectTimeout 10\n")
        return path

    def gw(self, user, command):
        """ssh -p G USER@127.0.0.1 COMMAND: a control command at the gateway."""
        cfg = self.client_config(user, [self.gateway_line], "boot")
        return run(["ssh", "-F", cfg, "-p", str(self.gateway_port), f"{user}@127.0.0.1",
                    command])

    def configure(self, user):
        """`config` as the user's ssh_config (its block, its known_hosts
        lines and the gateway's own); returns (path, config's known lines)."""
        r = self.gw(user, "config")
        assert r.returncode == 0, r.stderr
        block, _, known = r.stdout.partition("# known_hosts lines")
        assert f"ProxyJump {user}@127.0.0.1:{self.gateway_port}" in block, r.stdout
        self.config_blocks[user] = block
        lines = [ln for ln in known.splitlines()[1:] if ln.strip()]
        return self.client_config(user, [self.gateway_line, *lines], user), lines


def spec_claims(spec):
    return [v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes", [])
            if "persistentVolumeClaim" in v]


def run(args, timeout=SSH_TIMEOUT):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def fleet(helm4):
    f = Fleet(helm4, tempfile.mkdtemp(prefix="ws-fleet-e2e-"))
    try:
        yield f
    finally:
        f.close()


def test_the_fleet_gateway_creates_stops_starts_and_removes_a_workspace(fleet):
    timings = {}

    def timed(what, fn, *args):
        start = time.monotonic()
        try:
            return fn(*args)
        finally:
            timings[what] = time.monotonic() - start

    def alive():
        assert not fleet.errors and not fleet.api.controller.errors, \
            "\n".join(fleet.errors + fleet.api.controller.errors) + logs(fleet.gateway)

    fleet.start_api()
    timed("gateway up", fleet.start_gateway)
    fleet.gateway_line = fleet.known_gateway()
    obj = fleet.object_name("alice")
    pod_name, claim = obj + "-0", f"home-{obj}-0"

    # no workspace yet, but config already prints the host key it will
    # have: the first login is checked like every other (StrictHostKeyChecking)
    cfg, lines = fleet.configure("alice")
    [first_line] = lines
    assert first_line.startswith("alice.ws ssh-ed25519 "), lines
    assert fleet.api.store.get("statefulsets", obj) is None
    stamp = uuid.uuid4().hex
    r = timed("first login (create + start)", run, [
        "ssh", "-F", cfg, "alice.ws", f"echo $USER; hostname; echo {stamp} > ~/kept"])
    alive()
    assert r.returncode == 0, r.stderr + logs(fleet.gateway)
    # the workspace user, in the pod the StatefulSet made (its hostname)
    assert r.stdout.splitlines() == ["developer", pod_name], r.stdout
    sts = fleet.api.store.get("statefulsets", obj)
    assert sts["spec"]["replicas"] == 1
    assert sts["metadata"]["labels"]["ssh-workspace/workspace"] == "alice"
    assert fleet.api.store.get("persistentvolumeclaims", claim) is not None
    assert podman("pod", "exists", pod_name, check=False).returncode == 0
    cfg, lines = fleet.configure("alice")
    assert lines == [first_line], lines

    def pod_gone():
        return wait_for(lambda: podman("pod", "exists", pod_name, check=False).returncode != 0,
                        60)

    # stopped behind the gateway's back (kubectl scale --replicas=0): the
    # next login starts it again, with its home; the gateway reads the
    # token again after a rotation
    fleet.api.set_token(uuid.uuid4().hex)
    sts = fleet.api.store.get("statefulsets", obj)
    sts["spec"]["replicas"] = 0
    fleet.api.store.replace("statefulsets", sts)
    assert pod_gone(), "the workspace pod is still there after scaling to 0"
    assert podman("volume", "exists", claim, check=False).returncode == 0
    r = timed("login from scaled down", run, ["ssh", "-F", cfg, "alice.ws", "cat ~/kept"])
    alive()
    assert (r.returncode, r.stdout) == (0, stamp + "\n"), r.stderr + logs(fleet.gateway)
    assert fleet.api.store.get("statefulsets", obj)["spec"]["replicas"] == 1

    # stopped by its user: a login says how to start it; start does
    r = timed("stop", fleet.gw, "alice", "stop alice")
    assert r.returncode == 0, r.stderr
    assert fleet.api.store.get("statefulsets", obj)["spec"]["replicas"] == 0
    assert pod_gone(), "the workspace pod is still there after stop"
    alive()
    r = run(["ssh", "-F", cfg, "alice.ws", "cat ~/kept"])
    assert r.returncode == 255 and "administratively prohibited: stopped by you: ssh -p " \
        f"{fleet.gateway_port} alice@127.0.0.1 start alice" in r.stderr, r.stderr
    r = timed("start", fleet.gw, "alice", "start alice")
    assert (r.returncode, r.stdout) == (0, "alice is running: ssh alice.ws\n"), r.stderr
    r = run(["ssh", "-F", cfg, "alice.ws", "cat ~/kept"])
    assert (r.returncode, r.stdout) == (0, stamp + "\n"), r.stderr + logs(fleet.gateway)

    # bob's config does not reach alice's workspace
    bob_cfg, bob_lines = fleet.configure("bob")
    # (only his own first workspace's host key, made ahead of its create)
    assert [line.split()[0] for line in bob_lines] == ["bob.ws"], bob_lines
    r = run(["ssh", "-F", bob_cfg, "alice.ws", "true"])
    assert r.returncode == 255, r
    assert "administratively prohibited: no workspace 'alice' for bob" in r.stderr, r.stderr

    # rm: the StatefulSet (its pod collected with it) and the claim go
    r = timed("rm", fleet.gw, "alice", "rm alice --yes")
    assert r.returncode == 0, r.stderr
    assert fleet.api.store.get("statefulsets", obj) is None
    assert fleet.api.store.get("persistentvolumeclaims", claim) is None
    # the Secrets go with their StatefulSet, by the garbage collector, which
    # (as in a cluster) works in the background
    assert wait_for(lambda: fleet.api.store.items("secrets") == [], 10), \
        fleet.api.store.items("secrets")
    assert pod_gone(), "the workspace pod is still there after rm"
    alive()
    assert podman("volume", "rm", claim, check=False).returncode == 0
    fleet.volumes.discard(claim)

    # three pods, one per start (created, woken after the scale-down, started)
    assert [p["metadata"]["name"] for p in fleet.api.controller.pods_made] == [pod_name] * 3
    # every request is one the backend declares (test_fleet.py: the Role)
    declared = podman("exec", fleet.gateway, "ws-gateway-kube", "requests").stdout.split("\n")
    declared = {tuple(line.split()) for line in declared if line}
    assert fleet.api.observed() <= declared, fleet.api.observed() - declared
    assert not fleet.api.problems, fleet.api.problems
    # the state stayed on the volume the kubelet would make (root:GID 2775)
    st = os.stat(fleet.state)
    assert (st.st_uid, oct(st.st_mode & 0o7777)) == (0, "0o2775")
    assert os.path.exists(os.path.join(fleet.state, "gateway_hostkey"))
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))

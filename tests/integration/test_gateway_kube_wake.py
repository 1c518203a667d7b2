"""ws-gateway with the Kubernetes backend: wake, control and the keeper
through ws-gateway-kube and the stand-in API server, whose pods run a real
server (the build's dropbear, on the pod's 127.x.y.z address and the port
named ssh, with the host key of the workspace's Secret): the socket the
gateway hands over speaks SSH with the host key the gateway made."""
import base64
import os
import secrets
import subprocess
import time

import pytest

from conftest import BUILD, DROPBEAR, free_port, wait_for
from kube_backend import kube  # noqa: F401 (fixture)
from test_gateway import GATEWAY, Gateway, banner

BACKEND = os.path.join(BUILD, "bin", "ws-gateway-kube")


class PodServers:
    """Runs dropbear for each pod as it turns Ready; stops it when it goes."""

    def __init__(self, kube, ip, port):
        self.kube, self.ip, self.port = kube, ip, port
        self.procs = {}
        kube.api.controller.pod_ip = ip
        kube.api.controller.on_ready = self.start
        kube.api.controller.on_gone = self.stop

    def start(self, pod):
        name = pod["metadata"]["name"]
        workspace = pod["metadata"]["labels"]["ssh-workspace/workspace"]
        secret = self.kube.get("secrets", f"ws-{workspace}-hostkey")
        d = self.kube.path("pods", name)
        os.makedirs(d, exist_ok=True)
        hostkey = os.path.join(d, "hostkey")
        with open(os.open(hostkey, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(base64.b64decode(secret["data"]["hostkey"]))
        log = open(os.path.join(d, "log"), "a")
        self.procs[name] = subprocess.Popen(
            [DROPBEAR, "-F", "-E", "-p", f"{self.ip}:{self.port}", "-r", hostkey],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def stop(self, pod):
        proc = self.procs.pop(pod["metadata"]["name"], None)
        if proc:
            proc.terminate()
            proc.wait(timeout=10)

    def stop_all(self):
        self.kube.api.controller.stop()  # no server starts after this
        for name in list(self.procs):
            self.stop({"metadata": {"name": name}})


@pytest.fixture
def gk(kube):
    """(the gateway of test_gateway.py on ws-gateway-kube, the pod servers)"""
    ip = f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}." \
         f"{secrets.randbelow(250) + 1}"
    port = free_port()
    kube.write_template(kube.template(ports=[{"name": "ssh", "containerPort": port}]))
    root = kube.path("gateway")
    os.makedirs(root)
    g = Gateway(root, gateway_backend=BACKEND)
    g.env.update(kube.env)
    servers = PodServers(kube, ip, port)
    yield g, servers
    servers.stop_all()


def host_key(ip, port):
    r = subprocess.run(["ssh-keyscan", "-T", "5", "-t", "ed25519", "-p", str(port), ip],
                       capture_output=True, text=True, timeout=30)
    return [line.split()[1:] for line in r.stdout.splitlines() if not line.startswith("#")]


def test_a_wake_creates_starts_and_hands_over_the_pods_server(gk, kube):
    g, servers = gk
    sock, refused, status = g.wake("alice", "alice")
    assert refused is None and status == 0, refused
    assert banner(sock).startswith(b"SSH-2.0-")
    sock.close()
    # the server in the pod presents the host key the gateway made
    with open(os.path.join(g.state, "hostkeys", "alice.pub")) as f:
        want = f.read().split()[:2]
    assert host_key(servers.ip, servers.port) == [want]
    # and holds the keys the gateway wrote for the start
    with open(os.path.join(g.state, "keys", "alice")) as f:
        assert kube.secret_data("ws-alice-keys", "authorized_keys").decode() == f.read()
    r = g.control("alice", "status alice")
    assert r.stdout == "alice running\n", r.stderr


def test_stop_and_the_next_wake_through_the_gateway(gk, kube):
    g, servers = gk
    sock, _, _ = g.wake("alice", "alice")
    sock.close()
    r = g.control("alice", "stop alice")
    assert r.returncode == 0, r.stderr
    assert kube.sts("alice")["spec"]["replicas"] == 0
    assert wait_for(lambda: kube.get("pods", "ws-alice-0") is None, timeout=10)
    assert kube.get("persistentvolumeclaims", "home-ws-alice-0") is not None
    r = g.control("alice", "start alice")
    assert r.returncode == 0, r.stderr
    assert kube.ok("status", "alice") == f"running {servers.ip} {servers.port}\n"
    r = g.control("alice", "rm alice --yes")
    assert r.returncode == 0, r.stderr
    assert kube.sts("alice") is None
    assert kube.get("persistentvolumeclaims", "home-ws-alice-0") is None
    assert wait_for(lambda: kube.api.store.items("secrets") == [], timeout=5)


def test_the_keeper_stops_an_idle_pod(gk, kube):
    g, servers = gk
    sock, _, _ = g.wake("alice", "alice")
    sock.close()
    long_ago = int(time.time() * 1000) - 60000
    with open(os.path.join(kube.api.activity_dir("ws-alice-0"), "s.json"), "w") as f:
        f.write(f'{{"last_activity_ms":{long_ago}}}')
    with open(os.path.join(g.state, "woken", "alice"), "w") as f:
        f.write(f"{long_ago}\n")
    g.write_config(gateway_backend=BACKEND, gateway_idle_stop="10")
    keeper = subprocess.Popen([GATEWAY, "--config", g.config, "keeper"], env=g.env)
    try:
        assert wait_for(lambda: g.events("gateway_stop"), timeout=30)
    finally:
        keeper.terminate()
        assert keeper.wait(timeout=10) == 0
    [stop] = g.events("gateway_stop")
    assert stop["reason"] == "idle" and stop["idle_ms"] >= 60000
    assert kube.sts("alice")["spec"]["replicas"] == 0
    assert kube.api.calls(resource="pods/exec")

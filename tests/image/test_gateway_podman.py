"""The gateway's podman backend (plugins/gateway/ws-gateway-podman) driven
by ws-gateway against real podman and the image: a workspace created on
the first wake, its SSH server checked with the host key and known_hosts
line the gateway hands out, then stopped and removed with its home."""
import os
import secrets
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import IMAGE, PODMAN_CONF, REPO, keygen, podman

BUILD = os.path.realpath(os.environ.get("WS_BUILD", os.path.join(REPO, "build")))
GATEWAY = os.path.join(BUILD, "bin", "ws-gateway")
BACKEND = os.path.join(REPO, "plugins", "gateway", "ws-gateway-podman")


@pytest.fixture
def gateway():
    root = tempfile.mkdtemp(prefix="ws-gateway-podman-")
    user = "gwt" + secrets.token_hex(4)  # owns the workspace of its own name
    os.makedirs(os.path.join(root, "users"))
    os.makedirs(os.path.join(root, "state"))
    key = keygen(os.path.join(root, "id"))
    shutil.copy(key + ".pub", os.path.join(root, "users", user))
    config = os.path.join(root, "hooks.conf")
    with open(config, "w") as f:
        f.write(f"role = gateway\nevent_log = off\ngateway_users_dir = {root}/users\n"
                f"gateway_backend = {BACKEND}\ngateway_state_dir = {root}/state\n"
                "gateway_create = on\ngateway_wake_timeout = 60\ngateway_host = gw.test\n")
    env = dict(os.environ, WS_GATEWAY_IMAGE=IMAGE, WS_GATEWAY_CONFIG=config, USER=user)
    if PODMAN_CONF:
        env["CONTAINERS_CONF"] = PODMAN_CONF
    yield root, user, key, config, env
    podman("rm", "-f", f"ws-{user}", check=False)
    podman("volume", "rm", "-f", f"ws-home-{user}", check=False)
    for s in ("keys", "hostkey", "hooks"):
        podman("secret", "rm", f"ws-{s}-{user}", check=False)
    shutil.rmtree(root, ignore_errors=True)


def backend(env, *args):
    return subprocess.run([BACKEND, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def control(env, command):
    return subprocess.run([GATEWAY, "control"], env=dict(env, SSH_ORIGINAL_COMMAND=command),
                          capture_output=True, text=True, timeout=120)


def test_podman_backend_creates_wakes_stops_and_removes(gateway):
    root, user, key, config, env = gateway
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen([GATEWAY, "--config", config, "wake", user, user], env=env,
                            pass_fds=[3, theirs.fileno()],
                            preexec_fn=lambda: os.dup2(theirs.fileno(), 3))
    theirs.close()
    ours.settimeout(150)
    msg, fds, _, _ = socket.recv_fds(ours, 4096, 1)
    assert proc.wait(timeout=30) == 0 and fds, msg
    with socket.socket(fileno=fds[0]) as sock:
        sock.settimeout(10)
        assert sock.recv(8) == b"SSH-2.0-"

    state, addr, port = backend(env, "status", user).stdout.split()
    assert state == "running" and port == "2222"
    assert backend(env, "list").stdout.splitlines().count(f"{user} running") == 1
    # the known_hosts line `config` prints is the workspace's real host key
    known = os.path.join(root, "known_hosts")
    lines = [line for line in control(env, "config").stdout.splitlines()
             if line.startswith(f"{user}.ws ")]
    assert len(lines) == 1
    with open(known, "w") as f:
        f.write(lines[0] + "\n")
    r = subprocess.run(["ssh", "-i", key, "-p", port, "-o", "BatchMode=yes",
                        "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
                        "-o", f"HostKeyAlias={user}.ws", f"developer@{addr}", "id -u; ls -d ~"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["1000", "/home/developer"], r.stderr
    assert int(backend(env, "activity", user).stdout) >= 0

    r = control(env, f"stop {user}")
    assert r.returncode == 0, r.stderr
    assert backend(env, "status", user).stdout == "stopped\n"
    r = control(env, f"rm {user} --yes")
    assert r.returncode == 0, r.stderr
    assert backend(env, "status", user).stdout == "missing\n"
    assert podman("volume", "exists", f"ws-home-{user}", check=False).returncode != 0

"""The deploy-key agent sidecar (ws-workspace-agent) run on its own, as the
chart runs it: it must never exit over its keys (an exit crash-loops the
container and takes the pod out of its Service), say what is wrong, and
recover by itself: a corrected key is loaded at the next retry, and an
ssh-agent that dies is started again with the keys reloaded."""
import os
import shutil
import subprocess
import uuid

import pytest

from conftest import IMAGE, RESTRICTED, SECCOMP, podman, wait_for

KEYS = "/etc/ssh-workspace/deploy-keys"


@pytest.fixture
def sidecar(tmp_root):
    name = f"ws-agent-test-{uuid.uuid4().hex[:8]}"
    keys = os.path.join(tmp_root, "deploy-keys")
    listen = os.path.join(tmp_root, "workspace-agent")
    os.mkdir(keys, 0o755)
    os.mkdir(listen, 0o777)
    os.chmod(listen, 0o777)
    yield name, keys, listen
    podman("rm", "-f", "-t", "2", name, check=False)


def logs(name):
    r = podman("logs", name, check=False)
    return r.stdout + r.stderr


def keygen(path, passphrase):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "deploy",
                    "-f", path], check=True)
    os.chown(path, 1001, 1001)


def agent_lists(sock):
    """ssh-add -l through the proxy's socket (the test runs as uid 0, which
    the sidecar is told to allow)."""
    r = subprocess.run(["ssh-add", "-l"], env=dict(os.environ, SSH_AUTH_SOCK=sock),
                       capture_output=True, text=True, timeout=10)
    return r.stdout if r.returncode == 0 else None


def test_sidecar_survives_a_key_it_cannot_load_and_recovers(sidecar):
    name, keys, listen = sidecar
    key = os.path.join(keys, "deploy")
    keygen(key, "secret words")
    podman("run", "-d", "--name", name, "--user", "1001:1001", *RESTRICTED,
           "--security-opt", f"seccomp={SECCOMP}", "--network", "none",
           "-e", f"KEYS_DIR={KEYS}", "-e", "LISTEN=/run/workspace-agent/agent.sock",
           "-e", "ALLOW_UID=0", "-e", "RETRY=1",
           "-v", f"{keys}:{KEYS}:ro", "-v", f"{listen}:/run/workspace-agent",
           "--entrypoint", "/usr/bin/catatonit", IMAGE, "--", "/usr/bin/ws-workspace-agent")
    said = f"workspace-agent: could not load {KEYS}/deploy: it is protected by a passphrase"
    assert wait_for(lambda: said in logs(name), 20), logs(name)
    assert f"workspace-agent: no key loaded from {KEYS}" in logs(name)
    # it keeps running, says it once (not every retry), and offers no socket
    assert not wait_for(lambda: podman("inspect", "--format", "{{.State.Running}}",
                                       name).stdout.strip() != "true", 3), logs(name)
    assert logs(name).count(said) == 1, logs(name)
    sock = os.path.join(listen, "agent.sock")
    assert not os.path.exists(sock)
    # the Secret is corrected: the next retry loads it and the proxy listens
    os.unlink(key)
    os.unlink(key + ".pub")
    keygen(key, "")
    assert wait_for(lambda: agent_lists(sock), 20), logs(name)
    assert "deploy" in agent_lists(sock)
    assert f"workspace-agent: 1 key(s) loaded from {KEYS}" in logs(name)
    # ssh-agent dies: started again, the key loaded again, same socket
    podman("exec", name, "sh", "-c", "kill $(pidof ssh-agent)")
    assert wait_for(lambda: "ssh-agent (pid" in logs(name) and agent_lists(sock), 20), \
        logs(name)
    assert podman("inspect", "--format", "{{.State.Running}} {{.RestartCount}}",
                  name).stdout.split() == ["true", "0"], logs(name)

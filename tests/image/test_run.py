"""The image run like a restricted pod: login, any uid, home and host key
across restarts, authorized keys swapped by the kubelet, the health check."""
import base64
import hashlib
import os
import socket
import subprocess
import threading

import pytest

from conftest import DROPBEARKEY, HOSTKEY_DIR, IMAGE, free_port, podman, text

MARKER = ".ssh-workspace-initialized"


def start_default(ws, user="developer", uid=1000, gid=1000, env=None, extra_mounts=()):
    secret, mounts = ws.home_and_keys(user, uid, gid)
    ws.start(user=f"{uid}:{gid}", env=env, mounts=mounts + list(extra_mounts))
    return secret


def test_restricted_pod_key_login(workspace):
    start_default(workspace)
    r = workspace.ssh("id -un; id -u; id -gn; echo $HOME; pwd; stat -c %U /usr; "
                      "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; "
                      "touch /etc/x 2>&1; echo data > ~/f && cat ~/f; "
                      f"cat ~/{MARKER}; ls -A ~")
    out = text(r)
    assert r.returncode == 0, out
    lines = r.stdout.decode().splitlines()
    assert lines[:6] == ["developer", "1000", "developer", "/home/developer", "/home/developer",
                         "root"], out
    assert "CapEff:\t0000000000000000" in lines and "NoNewPrivs:\t1" in lines, out
    assert "Read-only file system" in out
    assert "data" in lines
    # the home was initialised: skeleton dotfiles, the podman storage config, the marker
    assert "home initialised by the ssh-workspace image" in out
    for name in (".bashrc", ".profile", ".config", ".ssh", MARKER):
        assert name in lines, out
    logs = workspace.logs()
    assert "1 authorized key(s)" in logs
    assert workspace.keys.pub("a").split()[1] not in logs, "key material in the log"
    # the hook library is loaded and logs events
    assert '"event":"auth"' in logs and '"user":"developer"' in logs


@pytest.mark.parametrize("user,uid,gid,group", [
    ("alice", 4242, 4242, "alice"),
    # OpenShift: a random uid in the root group
    ("developer", 1000680000, 0, "root"),
])
def test_any_uid_and_user_name(workspace, user, uid, gid, group):
    start_default(workspace, user=user, uid=uid, gid=gid, env={"WS_USER": user})
    r = workspace.ssh("id -un; id -u; id -gn; echo $HOME; ls -ld ~ | cut -d' ' -f3", user=user)
    assert r.returncode == 0, text(r)
    assert r.stdout.decode().split() == [user, str(uid), group, f"/home/{user}", user]
    # only the workspace user may log in
    r = workspace.ssh("true", user="root" if user == "developer" else "developer")
    assert r.returncode == 255, text(r)


def test_home_survives_restart_and_prefilled_home_is_kept(workspace):
    _, mounts = workspace.home_and_keys()
    # a volume that already holds files (e.g. restored): initialised anyway,
    # without replacing what is there
    path = podman("volume", "inspect", "--format", "{{.Mountpoint}}",
                  workspace.volumes[-1]).stdout.strip()
    with open(os.path.join(path, ".bashrc"), "w") as f:
        f.write("# mine\n")
    os.chown(os.path.join(path, ".bashrc"), 1000, 1000)
    workspace.start(mounts=mounts)
    r = workspace.ssh(f"cat ~/.bashrc; test -f ~/.profile && echo profile; cat ~/{MARKER}; "
                      "echo kept > ~/keep.txt")
    assert r.returncode == 0, text(r)
    first = r.stdout.decode().splitlines()
    assert first[0] == "# mine" and first[1] == "profile", first
    workspace.stop()
    workspace.start(mounts=mounts)
    r = workspace.ssh(f"cat ~/keep.txt; cat ~/{MARKER}")
    assert r.returncode == 0, text(r)
    assert r.stdout.decode().splitlines() == ["kept", first[2]]
    assert "initialised home" not in workspace.logs()


def host_key(tmp_root):
    d = os.path.join(tmp_root, "host-key")
    os.mkdir(d, 0o755)
    path = os.path.join(d, "hostkey")
    subprocess.run([DROPBEARKEY, "-t", "ed25519", "-f", path], check=True, capture_output=True)
    os.chmod(path, 0o644)
    out = subprocess.run([DROPBEARKEY, "-y", "-f", path], check=True, capture_output=True,
                         text=True).stdout
    pub = next(line for line in out.splitlines() if line.startswith("ssh-"))
    fp = next(line.split()[1] for line in out.splitlines() if line.startswith("Fingerprint:"))
    return d, pub, fp


def login_with_mounted_host_key(workspace, tmp_root, key_dir, pub):
    """Starts the image with key_dir as the host key mount, logs in trusting
    only `pub`; returns the container's log."""
    start_default(workspace, extra_mounts=[f"{key_dir}:{HOSTKEY_DIR}:ro"])
    known = os.path.join(tmp_root, "known_hosts")
    with open(known, "w") as f:
        f.write(f"[127.0.0.1]:{workspace.port} {' '.join(pub.split()[:2])}\n")
    r = workspace.ssh("true", known_hosts=known)
    assert r.returncode == 0, text(r)
    return workspace.logs()


def test_mounted_host_key_is_stable_across_restarts(workspace, tmp_root):
    d, pub, fp = host_key(tmp_root)
    for _round in range(2):
        logs = login_with_mounted_host_key(workspace, tmp_root, d, pub)
        assert f"host key {fp}" in logs and "WARNING" not in logs, logs
        workspace.cleanup()


@pytest.mark.parametrize("kind", [["-t", "ed25519"], ["-t", "rsa", "-b", "3072", "-m", "PEM"]],
                         ids=["openssh-ed25519", "pem-rsa"])
def test_an_openssh_or_pem_host_key_is_converted(workspace, tmp_root, kind):
    d = os.path.join(tmp_root, "host-key")
    os.mkdir(d, 0o755)
    path = os.path.join(d, "hostkey")
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-f", path] + kind, check=True)
    os.chmod(path, 0o644)
    with open(path + ".pub") as f:
        pub = f.read()
    fp = subprocess.run(["ssh-keygen", "-lf", path + ".pub"], check=True, capture_output=True,
                        text=True).stdout.split()[1]
    assert f"host key {fp}" in login_with_mounted_host_key(workspace, tmp_root, d, pub)


def test_a_pkcs8_ed25519_host_key_is_converted(workspace, tmp_root):
    """"BEGIN PRIVATE KEY" (PKCS#8), as Helm's genPrivateKey "ed25519" and
    openssl genpkey write it; this host's ssh-keygen cannot read it, so the
    expected public key is built from openssl's raw key."""
    d = os.path.join(tmp_root, "host-key")
    os.mkdir(d, 0o755)
    path = os.path.join(d, "hostkey")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", path], check=True)
    os.chmod(path, 0o644)
    with open(path) as f:
        assert f.readline().strip() == "-----BEGIN PRIVATE KEY-----"
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    blob = b"".join(len(p).to_bytes(4, "big") + p for p in (b"ssh-ed25519", der[-32:]))
    fp = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    pub = "ssh-ed25519 " + base64.b64encode(blob).decode()
    assert f"host key {fp}" in login_with_mounted_host_key(workspace, tmp_root, d, pub)


def test_generated_host_key_warns_and_changes(workspace):
    fps = []
    for _round in range(2):
        start_default(workspace)
        logs = workspace.logs()
        assert "WARNING: no host key mounted" in logs and "ephemeral" in logs, logs
        fps.append(next(line.split()[-1] for line in logs.splitlines()
                        if line.startswith("ssh-workspace: host key ")))
        workspace.cleanup()
    assert fps[0] != fps[1]


def test_kubelet_secret_swap_without_restart(workspace):
    secret = start_default(workspace)
    started = podman("inspect", "--format", "{{.State.StartedAt}}", workspace.name).stdout
    assert workspace.ssh("true", key="a").returncode == 0
    assert workspace.ssh("true", key="b").returncode == 255
    secret.update(workspace.keys.pub("b"))
    assert workspace.ssh("true", key="b").returncode == 0
    assert workspace.ssh("true", key="a").returncode == 255
    secret.update(workspace.keys.pub("a") + workspace.keys.pub("b"))
    assert workspace.ssh("true", key="a").returncode == 0
    assert workspace.ssh("true", key="b").returncode == 0
    assert podman("inspect", "--format", "{{.State.StartedAt}}", workspace.name).stdout == started


def test_healthcheck_speaks_ssh(workspace):
    start_default(workspace)
    r = podman("exec", workspace.name, "/usr/lib/ssh-workspace/healthcheck", check=False)
    assert r.returncode == 0 and "ok: SSH-2.0-dropbear" in r.stdout, r.stdout + r.stderr


def test_healthcheck_fails_without_an_ssh_server():
    # nothing listening
    port = free_port()
    run = ["run", "--rm", "--network", "host", "--entrypoint",
           "/usr/lib/ssh-workspace/healthcheck"]
    r = podman(*run, "-e", f"WS_LISTEN=127.0.0.1:{port}", IMAGE, check=False)
    assert r.returncode == 1 and "cannot connect" in r.stderr, r.stderr
    # something listening that is not an SSH server
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(30)

    def answer():
        try:
            conn, _ = srv.accept()
            conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
            conn.close()
        except OSError:
            pass
    t = threading.Thread(target=answer)
    t.start()
    r = podman(*run, "-e", f"WS_LISTEN=127.0.0.1:{srv.getsockname()[1]}", IMAGE,
               check=False)
    srv.close()
    t.join(30)
    assert r.returncode == 1 and "did not answer as an SSH server" in r.stderr, r.stderr


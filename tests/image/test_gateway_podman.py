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
import time

import pytest

from conftest import (IMAGE, PODMAN_CONF, REPO, free_port, keygen, listening, mounted_file, podman,
                      podman_service_proc, stop_process, wait_for)

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
    podman("network", "rm", f"ws-net-{user}", check=False)
    shutil.rmtree(root, ignore_errors=True)


def backend(env, *args):
    return subprocess.run([BACKEND, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def control(env, command):
    return subprocess.run([GATEWAY, "control"], env=dict(env, SSH_ORIGINAL_COMMAND=command),
                          capture_output=True, text=True, timeout=120)


def wake(env, config, user, name):
    """ws-gateway wake USER NAME as the library runs it; the connected
    socket it hands back is checked for the server's banner."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen([GATEWAY, "--config", config, "wake", user, name], env=env,
                            pass_fds=[3, theirs.fileno()],
                            preexec_fn=lambda: os.dup2(theirs.fileno(), 3))
    theirs.close()
    ours.settimeout(150)
    msg, fds, _, _ = socket.recv_fds(ours, 4096, 1)
    ours.close()
    assert proc.wait(timeout=30) == 0 and fds, msg
    with socket.socket(fileno=fds[0]) as sock:
        sock.settimeout(10)
        assert sock.recv(8) == b"SSH-2.0-"


def test_podman_backend_creates_wakes_stops_and_removes(gateway):
    root, user, key, config, env = gateway
    wake(env, config, user, user)

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
    assert podman("network", "exists", f"ws-net-{user}", check=False).returncode != 0


def test_activity_reads_only_a_few_small_regular_files_of_the_users_directory(gateway):
    """The activity directory is the workspace user's: a FIFO, a symlink,
    a huge file or a thousand files there neither block nor slow the
    keeper's question, and leave nothing running in the container."""
    root, user, key, config, env = gateway
    wake(env, config, user, user)
    rec = '{{"last_activity_ms":{}}}'
    setup = ("cd /var/lib/ws-activity && mkfifo 0fifo.json && "
             f"echo '{rec.format(8888888)}' > /tmp/outside && ln -s /tmp/outside 0link.json && "
             f"echo '{rec.format(50)}' > a.json && "
             f"{{ head -c 5000 /dev/zero | tr '\\0' ' '; echo '{rec.format(9999999)}'; }} > b.json && "
             f"for i in $(seq 100 169); do echo \"{{\\\"last_activity_ms\\\":$i}}\" > c$i.json; done")
    podman("exec", f"ws-{user}", "sh", "-c", setup)
    started = time.monotonic()
    r = backend(env, "activity", user)
    # a.json, b.json (its record is past 4 KiB) and c100..c161: 64 files
    assert r.returncode == 0 and r.stdout == "161\n", (r.stdout, r.stderr)
    assert time.monotonic() - started < 15
    # nothing of it is left in the container
    ps = podman("exec", f"ws-{user}", "sh", "-c",
                "cat /proc/[0-9]*/comm 2>/dev/null").stdout.split()
    assert not {"head", "cat", "timeout"} & set(ps), ps
    # a hold file, of any kind, is now
    podman("exec", f"ws-{user}", "mkfifo", "/var/lib/ws-activity/hold")
    r = backend(env, "activity", user)
    assert abs(int(r.stdout) - time.time() * 1000) < 60000, r.stdout


def address(name):
    return podman("container", "inspect", "--format",
                  "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                  f"ws-{name}").stdout.strip()


def ssh_direct(key, addr, known, alias, command):
    return subprocess.run(["ssh", "-i", key, "-p", "2222", "-o", "BatchMode=yes",
                           "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={known}",
                           "-o", "StrictHostKeyChecking=yes", "-o", f"HostKeyAlias={alias}",
                           f"developer@{addr}", command],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_start_takes_the_keys_the_gateway_has_now(gateway):
    """A key taken from the owner no longer opens the workspace once it is
    started again: `start` makes the container again with the keys in
    STATE/keys/NAME, the home and host key kept."""
    root, user, old_key, config, env = gateway
    wake(env, config, user, user)
    known = os.path.join(root, "known_hosts")
    with open(known, "w") as f:
        f.write("\n".join(line for line in control(env, "config").stdout.splitlines()
                          if line.startswith(f"{user}.ws ")) + "\n")
    r = ssh_direct(old_key, address(user), known, f"{user}.ws", "echo kept > ~/kept.txt")
    assert r.returncode == 0, r.stderr

    # the old key is replaced by a new one, for the gateway and in its state
    new_key = keygen(os.path.join(root, "id_new"))
    with open(new_key + ".pub") as f:
        new_pub = f.read()
    for path in (os.path.join(root, "users", user), os.path.join(root, "state", "keys", user)):
        with open(path, "w") as f:
            f.write(new_pub)
    assert control(env, f"stop {user}").returncode == 0
    assert control(env, f"start {user}").returncode == 0
    addr = address(user)
    r = ssh_direct(new_key, addr, known, f"{user}.ws", "cat ~/kept.txt")
    assert r.returncode == 0 and r.stdout == "kept\n", r.stderr
    r = ssh_direct(old_key, addr, known, f"{user}.ws", "true")
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr

    # no keys in the state: not started with whatever it had
    podman("stop", "-t", "2", f"ws-{user}")
    os.unlink(os.path.join(root, "state", "keys", user))
    r = backend(dict(env, WS_GATEWAY_STATE=os.path.join(root, "state")), "start", user)
    assert r.returncode == 1 and "no keys for workspace" in r.stderr, r.stderr
    assert backend(env, "status", user).stdout == "stopped\n"


def test_limits_come_from_the_environment_and_are_checked(gateway):
    root, user, key, config, env = gateway
    env = dict(env, WS_GATEWAY_MEMORY="768m", WS_GATEWAY_CPUS="1.5", WS_GATEWAY_PIDS="512",
               WS_GATEWAY_TMP_SIZE="100m")
    wake(env, config, user, user)
    r = podman("container", "inspect", "--format",
               "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
               f"ws-{user}")
    assert r.stdout.split() == [str(768 << 20), "1500000000", "512"], r.stdout
    mounts = podman("exec", f"ws-{user}", "cat", "/proc/self/mounts").stdout
    tmp = [line.split()[3].split(",") for line in mounts.splitlines() if line.split()[1] == "/tmp"]
    assert len(tmp) == 1 and "size=102400k" in tmp[0], tmp
    # they become podman arguments: anything else is refused
    for var, value in (("WS_GATEWAY_MEMORY", "1g --privileged"), ("WS_GATEWAY_CPUS", "-1"),
                       ("WS_GATEWAY_PIDS", "0"), ("WS_GATEWAY_TMP_SIZE", "1gb")):
        r = backend(dict(env, **{var: value}), "status", user)
        assert r.returncode == 1 and r.stderr.startswith(f"{var}="), r.stderr

# --- an unprivileged gateway (dropbear/run-gateway.sh, as `make run-gateway`
# runs it: a uid of its own, root podman through a service socket only that
# uid opens) and OpenSSH's jump into real podman workspaces ---

def read_state(gw, *parts):
    try:
        with open(os.path.join(gw.run, "state", *parts)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def test_idle_stopped_workspace_is_woken_by_the_jump_with_its_home(run_gateway):
    gw = run_gateway(users=("alice",), idle_stop="10s")
    (alice,) = gw.users
    marker = secrets.token_hex(8)
    r = gw.ssh(f"{alice}.ws", f"echo {marker} > ~/kept.txt; echo written", jump=alice)
    assert r.stdout == "written\n"
    # the keeper stops it once idle (10 s, looked at every 2.5 s), home kept
    assert wait_for(lambda: read_state(gw, "stopped", alice) == "idle", 90), gw.output()[-3000:]
    assert gw.status(alice) == "stopped"
    assert '"event":"gateway_stop"' in gw.output() and '"reason":"idle"' in gw.output()
    # a plain `ssh -J` wakes it and the first command's output comes back
    started = time.monotonic()
    r = gw.ssh(f"{alice}.ws", "cat ~/kept.txt", jump=alice)
    assert r.stdout == f"{marker}\n" and time.monotonic() - started < 60
    assert gw.status(alice) == "running"
    assert '"event":"gateway_wake"' in gw.output()


def test_stop_keeps_the_home_and_rm_removes_container_and_volume(run_gateway):
    gw = run_gateway(users=("alice",))
    (alice,) = gw.users
    name = f"{alice}-t1"  # created on demand, owned by alice
    marker = secrets.token_hex(8)
    gw.ssh(f"{name}.ws", f"echo {marker} > ~/kept.txt")
    assert gw.status(name) == "running"

    r = gw.control(alice, f"stop {name}")
    assert gw.status(name) == "stopped" and read_state(gw, "stopped", name) == "asked", r.stderr
    # stopped by its user: the jump is refused until started again
    r = gw.ssh(f"{name}.ws", "true", check=False)
    assert r.returncode != 0 and "stopped by you" in r.stderr, r.stderr
    gw.control(alice, f"start {name}")
    assert gw.ssh(f"{name}.ws", "cat ~/kept.txt").stdout == f"{marker}\n"

    # rm without --yes only says what it would do
    r = gw.control(alice, f"rm {name}", check=False)
    assert gw.status(name) == "running", r.stdout + r.stderr
    gw.control(alice, f"rm {name} --yes")
    assert gw.status(name) == "missing"
    assert podman("volume", "exists", f"ws-home-{name}", check=False).returncode != 0
    names = podman("secret", "ls", "--format", "{{.Name}}").stdout.split()
    assert not [s for s in names if s.endswith(f"-{name}")], names
    # the next jump creates a new one: an empty home
    assert gw.ssh(f"{name}.ws", "test -e ~/kept.txt || echo gone").stdout == "gone\n"


def test_workspace_sees_neither_the_podman_socket_nor_the_gateway(run_gateway):
    gw = run_gateway()
    alice, bob = gw.users
    gw.ssh(f"{bob}.ws", "true")
    script = ("cat /proc/self/mountinfo; echo ---; "
              f"for p in {gw.socket} {gw.run} /run/podman/podman.sock /var/run/podman "
              "/run/user/0/podman /var/lib/ws-gateway; do test -e $p && echo found $p; done; "
              "echo ---; cat /etc/ssh-workspace/authorized-keys/authorized_keys; echo ---; "
              "ls /etc/ssh-workspace /etc/ssh-workspace/*; echo ---; "
              f"podman --remote --url unix://{gw.socket} ps 2>&1 | head -n 1; echo ---; "
              "find / -xdev -type s 2>/dev/null; true")
    out = gw.ssh(f"{alice}.ws", script).stdout
    mounts, found, keys, etc, remote, sockets = out.split("---\n")
    # nothing of the gateway is mounted: not its run or state directory,
    # not the socket, not root podman's storage or runtime directories (as
    # a mount's source, its root field, or where it is mounted)
    points = [line.split()[3:5] for line in mounts.splitlines()]
    for text in (gw.run, "podman.sock", bob):
        assert text not in mounts, (text, mounts)
    for root, point in points:
        for path in ("/var/lib/containers", "/run/containers", "/run/podman", "/var/run/podman",
                     "/var/lib/ws-gateway"):
            assert not point.startswith(path), (root, point)
        # of podman's volumes, only its own home
        if "/storage/volumes/" in root:
            assert root.endswith(f"/volumes/ws-home-{alice}/_data") and point == "/home/developer"
    assert found == "", found
    assert "no such file" in remote.lower() or "connect" in remote.lower(), remote
    assert sockets.strip() == "", sockets
    # its own key only: not bob's, not the gateway's state
    with open(os.path.join(gw.run, f"id_{alice}.pub")) as f:
        alice_key = f.read().split()[1]
    with open(os.path.join(gw.run, f"id_{bob}.pub")) as f:
        bob_key = f.read().split()[1]
    assert alice_key in keys and bob_key not in keys
    assert set(etc.split()) >= {"authorized_keys", "hostkey", "hooks.conf"}
    assert "gateway" not in etc



def test_workspaces_cannot_reach_each_other_and_are_limited(run_gateway):
    """Each workspace is on a network of its own (ws-net-NAME, isolate):
    the gateway reaches every one, a workspace reaches no other's server.
    Memory, CPUs, processes and the tmpfs mounts are bounded."""
    gw = run_gateway()
    alice, bob = gw.users
    gw.ssh(f"{bob}.ws", "true")
    gw.ssh(f"{alice}.ws", "true")
    a, b = address(alice), address(bob)
    assert a and b and a.rsplit(".", 1)[0] != b.rsplit(".", 1)[0], (a, b)
    for name in (alice, bob):
        net = podman("network", "inspect", "--format", "{{.Options.isolate}}",
                     f"ws-net-{name}").stdout.strip()
        assert net == "true", net
    # the host (where the gateway runs) reaches both
    for addr in (a, b):
        with socket.create_connection((addr, 2222), timeout=10) as sock:
            assert sock.recv(8) == b"SSH-2.0-"
    probe = "timeout 3 bash -c '</dev/tcp/{}/2222' 2>/dev/null && echo reached || echo no"
    # its own address answers; the other workspace's does not
    assert gw.ssh(f"{alice}.ws", probe.format(a)).stdout == "reached\n"
    assert gw.ssh(f"{alice}.ws", probe.format(b)).stdout == "no\n"
    assert gw.ssh(f"{bob}.ws", probe.format(a)).stdout == "no\n"

    r = podman("container", "inspect", "--format",
               "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
               f"ws-{alice}")
    assert r.stdout.split() == [str(2 << 30), "2000000000", "4096"], r.stdout
    mounts = gw.ssh(f"{alice}.ws", "cat /proc/self/mounts").stdout
    opts = {}
    for line in mounts.splitlines():
        dev, point, fstype, options = line.split()[:4]
        if point in ("/run", "/tmp", "/var/lib/ws-activity"):
            assert point not in opts, mounts  # one mount each, not one covering another
            opts[point] = options.split(",")
    assert {"size=65536k", "noexec", "nosuid", "nodev"} <= set(opts["/run"]), opts
    assert {"size=1048576k", "nosuid", "nodev"} <= set(opts["/tmp"]), opts
    assert "size=1024k" in opts["/var/lib/ws-activity"], opts


def test_a_replaced_key_no_longer_opens_the_workspace_after_a_jump_wakes_it(run_gateway):
    """The gateway's user file and STATE/keys/NAME get a new key (as the
    gateway's key source changes); once the workspace is stopped, the next
    jump starts it with the new key only."""
    gw = run_gateway(users=("alice",))
    (alice,) = gw.users
    gw.ssh(f"{alice}.ws", "true")
    ident = os.path.join(gw.run, f"id_{alice}")
    old = os.path.join(gw.root, "id_old")
    shutil.copy(ident, old)
    new = keygen(os.path.join(gw.root, "id_new"))
    shutil.copy(new, ident)
    shutil.copy(new + ".pub", ident + ".pub")
    with open(new + ".pub") as f:
        pub = f.read()
    # written in place: owners and modes stay the gateway's
    for path in (os.path.join(gw.run, "users", alice), os.path.join(gw.run, "state", "keys", alice)):
        with open(path, "w") as f:
            f.write(pub)
    podman("stop", "-t", "2", f"ws-{alice}")
    # the jump wakes it: the new key logs in through it
    assert gw.ssh(f"{alice}.ws", "id -un").stdout == "developer\n"
    # the old one, straight to the workspace's address, is refused
    r = subprocess.run(["ssh", "-i", old, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no",
                        "-p", "2222", f"developer@{address(alice)}", "true"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr

# --- the image in the gateway role (container-image/README.md) ---

@pytest.fixture
def podman_service(tmp_root):
    """Root podman's service on a socket in a 0700 directory of its own,
    as an operator runs it for a gateway container; stopped after."""
    d = os.path.join(tmp_root, "podman")
    os.mkdir(d, 0o700)
    sock = os.path.join(d, "podman.sock")
    proc = podman_service_proc(sock)
    try:
        assert wait_for(lambda: os.path.exists(sock), 20), "the podman service did not start"
        yield sock
    finally:
        stop_process(proc)


def test_image_runs_as_a_gateway_of_podman_workspaces(tmp_root, keys, podman_service):
    suffix = secrets.token_hex(4)
    user, gw_name, state = f"gwi{suffix}", f"ws-gateway-test-{suffix}", f"ws-gateway-state-{suffix}"
    gw_uid = 2000  # the gateway's uid: not the workspaces' (1000)
    os.chown(podman_service, gw_uid, gw_uid)
    os.chmod(podman_service, 0o600)
    users = mounted_file(tmp_root, "users", user, keys.pub("a"))
    port = free_port()
    config = os.path.join(tmp_root, "ssh_config")
    key = keys.path("a")
    with open(config, "w") as f:
        f.write(f"Host gw\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n"
                f"  IdentityFile {key}\n  IdentitiesOnly yes\n  BatchMode yes\n"
                "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  LogLevel ERROR\n"
                f"Host *.ws\n  ProxyJump gw\n  User developer\n  IdentityFile {key}\n"
                "  IdentitiesOnly yes\n  BatchMode yes\n  UserKnownHostsFile /dev/null\n"
                f"  KnownHostsCommand /usr/bin/ssh -F {config} gw config\n"
                "  StrictHostKeyChecking yes\n")

    def ssh(host, command):
        return subprocess.run(["ssh", "-F", config, host, command], capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
    try:
        podman("volume", "create", state)
        podman("run", "-d", "--name", gw_name, "--network", "host", "--user", f"{gw_uid}:{gw_uid}",
               "--read-only", "--cap-drop=ALL", "--security-opt", "no-new-privileges",
               "--tmpfs", "/run", "--tmpfs", "/tmp", "--passwd=false",
               "-e", f"WS_LISTEN=127.0.0.1:{port}", "-e", "WS_GATEWAY_CREATE=on",
               "-e", f"WS_GATEWAY_IMAGE={IMAGE}", "-e", "WS_GATEWAY_HOST=gw.test",
               "-v", f"{users}:/etc/ssh-workspace/gateway-users:ro",
               "-v", f"{state}:/var/lib/ws-gateway:U",
               "-v", f"{podman_service}:/run/podman/podman.sock", IMAGE, "gateway")

        def logs():
            r = podman("logs", gw_name, check=False)
            return r.stdout + r.stderr
        assert wait_for(lambda: listening(port), 30), logs()
        assert "gateway (uid 2000)" in logs()
        generated = podman("exec", gw_name, "cat", "/run/ssh-workspace/gateway.conf").stdout
        assert "role = gateway\n" in generated and "gateway_create = on\n" in generated

        # a jump creates the workspace through the mounted socket; the
        # workspace's host key is checked against what the gateway prints
        r = ssh(f"{user}.ws", "id -un; cat /proc/self/mountinfo")
        assert r.returncode == 0, r.stderr + logs()
        name, mounts = r.stdout.split("\n", 1)
        assert name == "developer"
        assert "podman.sock" not in mounts and state not in mounts and "gateway-users" not in mounts
        # the gateway gives no shell: a session is the control command
        r = ssh("gw", "id -u")
        assert "uid" not in r.stdout and "2000" not in r.stdout, r.stdout
        r = ssh("gw", "list")
        assert r.returncode == 0 and user in r.stdout and "running" in r.stdout, r.stdout + r.stderr
        # the gateway's host key is kept in its state volume
        r = podman("exec", gw_name, "ls", "/var/lib/ws-gateway")
        assert "gateway_hostkey" in r.stdout.split()
    finally:
        podman("rm", "-f", "-t", "2", gw_name, f"ws-{user}", check=False)
        podman("volume", "rm", "-f", state, f"ws-home-{user}", check=False)
        for s in ("keys", "hostkey", "hooks"):
            podman("secret", "rm", f"ws-{s}-{user}", check=False)
        podman("network", "rm", f"ws-net-{user}", check=False)


def test_image_gateway_role_refuses_what_it_cannot_run_with(tmp_root, keys):
    """Each missing mount is named by one line, and nothing starts."""
    users = mounted_file(tmp_root, "users", "alice", keys.pub("a"))
    base = ["run", "--rm", "--network", "none", "--user", "2000:2000", "--read-only",
            "--cap-drop=ALL", "--security-opt", "no-new-privileges", "--tmpfs", "/run",
            "--tmpfs", "/tmp", "--passwd=false"]
    state = ["--tmpfs", "/var/lib/ws-gateway:mode=0777"]
    users_mount = ["-v", f"{users}:/etc/ssh-workspace/gateway-users:ro"]
    cases = [
        (state, "no gateway users: /etc/ssh-workspace/gateway-users is not a directory"),
        (users_mount, "gateway state /var/lib/ws-gateway is missing or not writable"),
        (users_mount + state, "no podman socket at /run/podman/podman.sock"),
        (["-e", "WS_ROLE=nonsense"], "WS_ROLE='nonsense' is neither workspace nor gateway"),
    ]
    for args, message in cases:
        r = podman(*base, *args, IMAGE, *([] if "WS_ROLE=nonsense" in args else ["gateway"]),
                   check=False, timeout=60)
        assert r.returncode == 1 and f"ssh-workspace: {message}" in r.stderr, (message, r.stderr)

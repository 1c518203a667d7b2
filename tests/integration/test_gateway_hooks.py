"""The server side of the gateway role: logins whose users and keys come
from the hook library (user_lookup, authorized_keys) and direct-tcpip
channels it routes (tcp_route): refused with a reason the client prints, or
pending while the library works, then relayed to the socket it hands over.

The library is gateway_test_hooks.c, built here: users alice and bob, and
routes by host name (nope = refused, slow = a socket after a wait, slowno =
a refusal text after a wait, silent = never answers, else the server's own
connect).  Its log (one line per call, with the calling pid) shows what the
server asked and which process asked it."""
import base64
import os
import re
import shlex
import subprocess
import threading
import time

import paramiko
import pytest

from conftest import REPO, free_port, keygen, stop_process, wait_for
from interop_helpers import echo_server, recv_until, serve_upper, through_forward

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gateway_test_hooks.c")
DELAY_MS = 3000
DENIED = "Permission denied (publickey)."


class Gateway:
    """A server loaded with the test library, plus alice's and bob's keys."""

    def __init__(self, ws, start_server, target_port, older=False):
        """older: the library as built before the gateway callbacks
        (-DLIB_OLDER: its struct_size ends before them, and they abort)."""
        self.ws = ws
        self.lib = ws.path("gateway_test_hooks.so")
        subprocess.run(["cc", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra",
                        "-Werror", "-shared", "-fPIC", "-fvisibility=hidden"]
                       + (["-DLIB_OLDER"] if older else [])
                       + ["-I", os.path.join(REPO, "plugins"), "-o", self.lib, SOURCE], check=True)
        keys_dir = ws.path("gateway-keys")
        os.makedirs(keys_dir)
        os.chmod(keys_dir, 0o755)
        self.keys = {}
        for user in ("alice", "bob"):
            self.keys[user] = keygen(ws.path(f"id_{user}"))
            with open(self.keys[user] + ".pub") as src:
                ws.write(os.path.join("gateway-keys", user), src.read(), 0o644)
        self.log_path = os.path.join(ws.server_dir, "gateway.log")  # the server's uid writes it
        config = ws.write_config(f"keys_dir {keys_dir}\nlog {self.log_path}\n"
                                 f"target {target_port}\ndelay_ms {DELAY_MS}\n", "gateway.conf")
        self.server = start_server(hook=self.lib, config=config).wait_ready()

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def logged(self, prefix):
        return [line for line in self.log() if line.startswith(prefix)]

    def ssh(self, command, user, key=None, options=(), extra=(), input=None, timeout=60):
        return self.server.ssh(command, user=user, key=key or self.keys[user],
                               options=options, extra=extra, input=input, timeout=timeout)

    def paramiko(self, user):
        client = paramiko.SSHClient()
        keytype, keydata = self.ws.hostpub.split()[:2]
        client.get_host_keys().add(f"[127.0.0.1]:{self.server.port}", keytype,
                                   paramiko.Ed25519Key(data=base64.b64decode(keydata)))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect("127.0.0.1", self.server.port, username=user,
                       key_filename=self.keys[user], allow_agent=False, look_for_keys=False,
                       timeout=30)
        return client


@pytest.fixture
def target():
    with echo_server() as port:
        yield port


@pytest.fixture
def gateway(workspace, start_server, target):
    return Gateway(workspace, start_server, target)


def pid_of(line):
    return int(re.search(r"pid=(\d+)", line).group(1))


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --- logins ---

def test_known_users_log_in_as_the_servers_uid_with_its_home_and_sh(gateway, workspace):
    for user in ("alice", "bob"):
        r = gateway.ssh('echo "$USER $LOGNAME $HOME $SHELL"; id -u', user)
        assert r.returncode == 0, r.stderr + gateway.server.output()
        assert r.stdout.splitlines() == [f"{user} {user} {workspace.home} /bin/sh",
                                         str(workspace.uid)]
    # asked before authentication (no user in ws_conn yet), then for the keys
    assert [line.split()[:3] for line in gateway.logged("lookup")] == \
        [["lookup", "alice", "user-null"], ["lookup", "bob", "user-null"]]
    assert {tuple(line.split()[1:3]) for line in gateway.logged("keys")} == \
        {("alice", "alice"), ("bob", "bob")}


def test_a_gateway_login_gets_a_pty(gateway):
    # the pty is owned without a passwd entry for the user
    r = gateway.ssh("tty", "alice", extra=["-tt"])
    assert r.returncode == 0, r.stderr + gateway.server.output()
    assert r.stdout.startswith("/dev/pts/"), r.stdout


def test_unknown_user_and_wrong_key_look_the_same_to_the_client(gateway, workspace):
    stranger = keygen(workspace.path("id_stranger"))
    unknown = gateway.ssh("true", "carol", key=gateway.keys["alice"])
    wrong_key = gateway.ssh("true", "alice", key=stranger)
    assert unknown.returncode == wrong_key.returncode == 255
    assert unknown.stderr.replace("carol@", "USER@") == wrong_key.stderr.replace("alice@", "USER@")
    assert DENIED in unknown.stderr
    # the library decides: the machine's own user is unknown to it
    assert DENIED in gateway.ssh("true", "developer", key=workspace.key).stderr
    # an unknown name is logged as upstream logs a name getpwnam() does not know
    out = gateway.server.output()
    assert "Login attempt for nonexistent user from" in out
    assert "carol" not in out
    # and its keys are never asked for
    assert not gateway.logged("keys carol")


def test_a_users_key_does_not_open_another_users_login(gateway):
    assert DENIED in gateway.ssh("true", "bob", key=gateway.keys["alice"]).stderr
    assert DENIED in gateway.ssh("true", "alice", key=gateway.keys["bob"]).stderr
    assert gateway.ssh("true", "bob").returncode == 0


def test_a_name_too_long_never_reaches_the_library(gateway):
    name = "a" * 101  # upstream's MAX_USERNAME_LEN is 100
    assert DENIED in gateway.ssh("true", name, key=gateway.keys["alice"]).stderr
    assert gateway.logged("lookup") == []


# --- routes ---

def test_a_refused_route_tells_the_client_why(gateway):
    r = gateway.ssh(None, "alice", extra=["-W", "nope:22"], input="")
    assert r.returncode == 255
    assert "open failed: administratively prohibited: no workspace 'nope' for alice" in r.stderr
    assert "stdio forwarding failed" in r.stderr
    # the library saw the logged-in user in ws_conn
    assert gateway.logged("route nope:22 alice")


def local_forward(gateway, spec):
    """ssh -N -L SPEC as alice to the gateway, its stderr (text) piped."""
    return subprocess.Popen(gateway.server.ssh_args("alice", gateway.keys["alice"])
                            + ["-N", "-L", spec],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def test_a_refused_route_through_a_local_forward(gateway):
    lport = free_port()
    client = local_forward(gateway, f"{lport}:nope:22")
    try:
        assert through_forward(lport) is None
        assert wait_for(lambda: gateway.logged("route nope:22"))
    finally:
        stop_process(client)
    assert "open failed: administratively prohibited: no workspace 'nope' for alice" in \
        client.stderr.read()


def test_a_pending_route_relays_after_the_wait_and_keepalives_go_on(gateway):
    start = time.monotonic()
    # a server that stopped answering for the wait would end this client
    # (one keepalive unanswered after a second)
    r = gateway.ssh(None, "alice", extra=["-W", "slow:22"], input="ping through the gateway\n",
                    options=["ServerAliveInterval=1", "ServerAliveCountMax=1"])
    assert r.returncode == 0, r.stderr + gateway.server.output()
    assert r.stdout == "PING THROUGH THE GATEWAY\n"
    assert time.monotonic() - start >= DELAY_MS / 1000
    assert gateway.logged("answered slow socket")


def test_a_jump_through_the_gateway_reaches_the_workspaces_own_server(workspace, start_server):
    """What users do (ProxyJump is ssh -W in a ProxyCommand): the session is
    end to end with the workspace's server, after the gateway's wait."""
    inner = start_server().wait_ready()  # the workspace's server: developer, its own keys
    gateway = Gateway(workspace, start_server, inner.port)
    jump = " ".join(shlex.quote(a) for a in
                    gateway.server.ssh_args("alice", gateway.keys["alice"]) + ["-W", "slow:22"])
    r = subprocess.run(["ssh", "-F", "/dev/null", "-i", workspace.key, "-o", "IdentitiesOnly=yes",
                        "-o", "IdentityAgent=none", "-o", f"UserKnownHostsFile={inner.known_hosts}",
                        "-o", f"HostKeyAlias=[127.0.0.1]:{inner.port}",
                        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                        "-o", f"ProxyCommand={jump}", "developer@slow", "echo $USER at the end"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert (r.returncode, r.stdout) == (0, "developer at the end\n"), r.stderr
    assert gateway.logged("answered slow socket")
    assert inner.wait_event("auth")["user"] == "developer"


def test_a_pending_route_can_be_refused_with_printable_text(gateway):
    r = gateway.ssh(None, "alice", extra=["-W", "slowno:22"], input="",
                    options=["ServerAliveInterval=1", "ServerAliveCountMax=1"])
    assert r.returncode == 255
    assert "open failed: administratively prohibited: " \
        "workspace 'slowno' did not start: ?[31mred?" in r.stderr, r.stderr
    assert "\x1b" not in r.stderr


def test_the_default_route_is_the_servers_own_connect(gateway, target):
    r = gateway.ssh(None, "alice", extra=["-W", f"127.0.0.1:{target}"], input="direct\n")
    assert (r.returncode, r.stdout) == (0, "DIRECT\n"), r.stderr
    assert gateway.logged(f"route 127.0.0.1:{target} alice")


def test_a_client_that_leaves_while_pending_leaves_nothing_behind(gateway):
    client = subprocess.Popen(gateway.server.ssh_args("alice", gateway.keys["alice"])
                              + ["-W", "silent:22"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        line = wait_for(lambda: gateway.logged("route silent:22"), timeout=20)
        assert line, gateway.server.output()
        conn_pid = pid_of(line[0])
        client.kill()
    finally:
        stop_process(client)
    # the connection ends and closes the route's descriptor: the library's
    # process waiting on the other end sees it
    assert wait_for(lambda: not alive(conn_pid), timeout=10), "the connection process stayed"
    assert wait_for(lambda: gateway.logged("peer closed silent"), timeout=10)
    assert gateway.server.proc.poll() is None
    r = gateway.ssh("echo still here", "bob")
    assert (r.returncode, r.stdout) == (0, "still here\n"), r.stderr


def test_routes_on_one_connection_leave_no_descriptors_behind(gateway, caplog):
    # paramiko keeps the failure's description for its log (the exception
    # has the code's name)
    caplog.set_level("ERROR", logger="paramiko.transport")
    client = gateway.paramiko("alice")
    try:
        t = client.get_transport()
        conn_pid = pid_of(gateway.logged("keys alice")[-1])
        baseline = open_fds(conn_pid)
        with pytest.raises(paramiko.ChannelException) as refused:
            t.open_channel("direct-tcpip", ("nope", 22), ("127.0.0.1", 1))
        assert refused.value.code == 1  # administratively prohibited
        assert "open FAILED: no workspace 'nope' for alice" in caplog.text
        with pytest.raises(paramiko.ChannelException) as later:
            t.open_channel("direct-tcpip", ("slowno", 22), ("127.0.0.1", 1), timeout=30)
        assert later.value.code == 1
        assert "open FAILED: workspace 'slowno' did not start: ?[31mred?" in caplog.text
        for _ in range(2):
            chan = t.open_channel("direct-tcpip", ("slow", 22), ("127.0.0.1", 1), timeout=30)
            chan.sendall(b"relayed\n")
            assert recv_until(chan.recv, b"\n") == b"RELAYED\n"
            chan.close()
        assert wait_for(lambda: open_fds(conn_pid) == baseline, timeout=10), \
            (baseline, os.listdir(f"/proc/{conn_pid}/fd"))
    finally:
        client.close()


def test_pending_routes_are_limited_per_connection(gateway, caplog):
    caplog.set_level("ERROR", logger="paramiko.transport")
    client = gateway.paramiko("alice")
    results = []
    try:
        t = client.get_transport()

        def open_silent():
            try:
                t.open_channel("direct-tcpip", ("silent", 22), ("127.0.0.1", 1), timeout=60)
                results.append("opened")
            except Exception as e:  # the transport closes under it at the end
                results.append(type(e).__name__)
        threads = [threading.Thread(target=open_silent, daemon=True) for _ in range(16)]
        for th in threads:
            th.start()
        assert wait_for(lambda: len(gateway.logged("route silent:22")) == 16, timeout=20)
        with pytest.raises(paramiko.ChannelException) as full:
            t.open_channel("direct-tcpip", ("silent", 22), ("127.0.0.1", 1), timeout=30)
        assert full.value.code == 4  # resource shortage
        assert "open FAILED: too many connections waiting" in caplog.text
        # the library was not asked for the one over the limit
        assert len(gateway.logged("route silent:22")) == 16
        # and the connection still works meanwhile
        _, stdout, _ = client.exec_command("echo busy but fine")
        assert stdout.read() == b"busy but fine\n"
    finally:
        client.close()
    for th in threads:
        th.join(timeout=30)
    assert "opened" not in results
    assert wait_for(lambda: len(gateway.logged("peer closed silent")) == 16, timeout=10)


# --- the append-only ABI ---

def test_a_library_built_before_the_gateway_callbacks_is_never_asked(workspace, start_server,
                                                                      target):
    gateway = Gateway(workspace, start_server, target, older=True)
    # logins as without a library: the machine's user with its own file
    r = gateway.server.ssh("echo $USER")
    assert (r.returncode, r.stdout) == (0, "developer\n"), r.stderr
    assert DENIED in gateway.ssh("true", "alice").stderr
    # and the server's own connect
    r = gateway.server.ssh(None, extra=["-W", f"127.0.0.1:{target}"], input="own connect\n")
    assert (r.returncode, r.stdout) == (0, "OWN CONNECT\n"), r.stderr
    # the library's callbacks abort(): none ran
    assert gateway.log() == []


# --- a gateway relays jumps and nothing else ---

def unix_echo_server(path):
    """A unix socket that answers like echo_server: what -L to a unix
    socket at the gateway (the container engine's) would reach."""
    import socket
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    os.chmod(path, 0o777)  # the server's uid may connect: only the gateway refuses
    srv.listen(4)
    serve_upper(srv)
    return srv


def test_no_local_forward_to_a_unix_socket_at_the_gateway(gateway, workspace):
    # this gateway runs without -c, so upstream's forced-command rule does
    # not refuse it: the gateway role does
    path = os.path.join(workspace.server_dir, "engine.sock")
    srv = unix_echo_server(path)
    lport = free_port()
    client = local_forward(gateway, f"{lport}:{path}")
    try:
        assert through_forward(lport) is None
    finally:
        stop_process(client)
        srv.close()
    assert "open failed: administratively prohibited" in client.stderr.read()
    assert "Gateway role: direct-streamlocal refused" in gateway.server.output()


@pytest.mark.parametrize("listen", ["0:127.0.0.1:22", "SOCKET:127.0.0.1:22"])
def test_no_remote_forward_at_the_gateway(gateway, workspace, listen):
    # without -k: the gateway role still opens no listener for a user
    listen = listen.replace("SOCKET", os.path.join(workspace.server_dir, "listen.sock"))
    r = gateway.ssh(None, "alice", extra=["-N", "-R", listen],
                    options=["ExitOnForwardFailure=yes"], timeout=30)
    assert r.returncode == 255
    assert "forwarding failed" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(workspace.server_dir, "listen.sock"))
    assert "Gateway role: " in gateway.server.output()


def test_the_gateway_library_runs_only_the_forced_control_command(workspace, start_server):
    """The real library, in a gateway started without -c: no shell and no
    command as the gateway's uid (the state directory's host keys, the
    container engine's socket), whatever the client asks."""
    from conftest import BUILD
    users = workspace.path("gateway-users")
    os.makedirs(users)
    os.chmod(users, 0o755)
    with open(workspace.key + ".pub") as src:
        workspace.write(os.path.join("gateway-users", "alice"), src.read(), 0o644)
    state = workspace.server_dir
    backend = workspace.write("gw-backend", "#!/bin/sh\nexit 0\n", 0o755)  # no workspaces
    program = os.path.join(BUILD, "bin", "ws-gateway")
    config = workspace.write_config(
        f"role = gateway\nevent_log = stderr\ngateway_users_dir = {users}\n"
        f"gateway_backend = {backend}\ngateway_state_dir = {state}\n"
        f"gateway_program = {program}\n", "gw-real.conf")
    server = start_server(config=config).wait_ready()
    for extra, command in (([], "echo shell-ran"), (["-tt"], None)):
        r = server.ssh(command, user="alice", extra=extra, input="echo shell-ran\nexit\n")
        assert "shell-ran\n" not in r.stdout.replace("\r", ""), r.stdout
        assert r.returncode != 0
    problems = [e for e in server.events() if e["event"] == "gateway_problem"]
    assert problems and "-c '" + program + " control'" in problems[0]["reason"]
    # the same server with -c: the control command answers
    server.stop()
    server = start_server(config=config,
                          extra_args=["-c", f"{program} control"]).wait_ready()
    control = "config"  # a control command of the gateway's, not a program
    r = server.ssh(control, user="alice")
    assert r.returncode == 0 and "ProxyJump alice@" in r.stdout, r.stderr + server.output()

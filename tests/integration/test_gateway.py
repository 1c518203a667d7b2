"""ws-gateway against a command backend that runs real servers: each
workspace is the build's dropbear on a loopback port (gateway_backend.sh),
so `wake` is checked by talking SSH over the socket it hands back."""
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import BUILD, DROPBEAR, BackendFiles, keygen, wait_for

GATEWAY = os.path.join(BUILD, "bin", "ws-gateway")
BACKEND = os.path.join(os.path.dirname(os.path.realpath(__file__)), "gateway_backend.sh")


class Gateway(BackendFiles):
    def __init__(self, root, **keys):
        self.root = root
        self.state = os.path.join(root, "state")
        self.users = os.path.join(root, "users")
        self.backend_dir = os.path.join(root, "backend")
        for d in (self.state, self.users, self.backend_dir):
            os.makedirs(d)
        self.key = keygen(os.path.join(root, "id_alice"))
        with open(self.key + ".pub") as f:
            self.alice_keys = f.read()
        self.add_user("alice", self.alice_keys)
        self.add_user("bob", open(keygen(os.path.join(root, "id_bob")) + ".pub").read())
        self.log = os.path.join(root, "events.log")
        self.config = os.path.join(root, "hooks.conf")
        self.write_config(**keys)
        self.env = dict(os.environ, GW_TEST_DIR=self.backend_dir, DROPBEAR=DROPBEAR)

    def add_user(self, name, keys):
        with open(os.path.join(self.users, name), "w") as f:
            f.write(keys)

    def write_config(self, **keys):
        settings = {
            "role": "gateway", "event_log": self.log, "gateway_users_dir": self.users,
            "gateway_backend": BACKEND, "gateway_state_dir": self.state,
            "gateway_create": "on", "gateway_wake_timeout": "10",
            "gateway_host": "gw.example",
        }
        settings.update(keys)
        with open(self.config, "w") as f:
            f.write("".join(f"{k} = {v}\n" for k, v in settings.items() if v is not None))

    def wake(self, user, name):
        """Runs ws-gateway wake as the library does; returns (socket or
        None, the refusal text or None, exit status)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        proc = subprocess.Popen(
            [GATEWAY, "--config", self.config, "wake", user, name], env=self.env,
            pass_fds=[3, theirs.fileno()], preexec_fn=lambda: os.dup2(theirs.fileno(), 3))
        theirs.close()
        ours.settimeout(60)
        msg, fds, _, _ = socket.recv_fds(ours, 4096, 1)
        ours.close()
        status = proc.wait(timeout=60)
        if fds:
            return socket.socket(fileno=fds[0]), None, status
        return None, msg.decode(), status

    def control(self, user, command):
        env = dict(self.env, USER=user, SSH_ORIGINAL_COMMAND=command,
                   WS_GATEWAY_CONFIG=self.config)
        return subprocess.run([GATEWAY, "control"], env=env, capture_output=True, text=True,
                              timeout=60)

    def events(self, name):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [e for e in map(json.loads, f) if e["event"] == name]

    def stop_all(self):
        for w in os.listdir(self.backend_dir):
            pid = os.path.join(self.backend_dir, w, "pid")
            if os.path.exists(pid):
                try:
                    os.kill(int(open(pid).read()), signal.SIGTERM)
                except ProcessLookupError:
                    pass


@pytest.fixture
def gw():
    root = tempfile.mkdtemp(prefix="ws-gateway-test-")
    g = Gateway(root)
    yield g
    g.stop_all()
    shutil.rmtree(root, ignore_errors=True)


def banner(sock):
    sock.settimeout(10)
    data = b""
    while b"\n" not in data:
        chunk = sock.recv(256)
        if not chunk:
            break
        data += chunk
    return data


def test_wake_creates_starts_and_hands_over_a_connected_socket(gw):
    sock, refused, status = gw.wake("alice", "alice")
    assert refused is None and status == 0
    assert banner(sock).startswith(b"SSH-2.0-")
    sock.close()
    assert gw.starts() == ["alice"]
    # created with the user's keys and a host key of its own
    with open(os.path.join(gw.backend_dir, "alice", "keys")) as f:
        assert f.read() == gw.alice_keys
    pub = open(os.path.join(gw.state, "hostkeys", "alice.pub")).read().split()
    hostpub = subprocess.run([os.path.join(BUILD, "bin", "dropbearkey"), "-y", "-f",
                              os.path.join(gw.backend_dir, "alice", "hostkey")],
                             capture_output=True, text=True, check=True).stdout
    assert " ".join(pub) in hostpub
    [created] = gw.events("gateway_create")
    assert created["user"] == "alice" and created["result"] == "ok"
    [wake] = gw.events("gateway_wake")
    assert wake["result"] == "ok" and wake["duration_ms"] >= 0
    # running: the next wake starts nothing
    sock, refused, _ = gw.wake("alice", "alice")
    assert banner(sock).startswith(b"SSH-2.0-")
    sock.close()
    assert gw.starts() == ["alice"]


def test_concurrent_wakes_start_once(gw):
    results = []

    def one():
        results.append(gw.wake("alice", "alice-dev"))

    threads = [threading.Thread(target=one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert len(results) == 10
    for sock, refused, status in results:
        assert refused is None and status == 0
        assert banner(sock).startswith(b"SSH-2.0-")
        sock.close()
    assert gw.starts() == ["alice-dev"]
    assert len(gw.events("gateway_create")) == 1


def test_refusals_name_the_reason(gw):
    sock, refused, status = gw.wake("alice", "bob")
    assert refused == "no workspace 'bob' for alice" and status == 1
    sock, refused, _ = gw.wake("alice", "Alice")
    assert refused == "'Alice' is not a workspace name"
    assert gw.starts() == []
    assert os.listdir(gw.backend_dir) == []
    assert os.listdir(gw.state) == []  # not even a lock file
    r = gw.control("alice", "start bob")
    assert r.returncode == 1 and r.stderr == "no workspace 'bob' for alice\n"
    assert os.listdir(gw.state) == []


def test_a_name_with_a_dash_is_no_user(gw):
    # alice owns alice-*: a user alice-ci would be hers to remove, or to
    # create first with her keys so that alice-ci's jumps reach her server
    gw.add_user("alice-ci", gw.alice_keys)
    _, refused, status = gw.wake("alice-ci", "alice-ci")
    assert refused == "no workspace 'alice-ci' for alice-ci" and status == 1
    r = gw.control("alice-ci", "start alice-ci")
    assert r.returncode == 2 and "not a valid user name" in r.stderr
    assert gw.starts() == []


def test_create_on_demand_off(gw):
    gw.write_config(gateway_create="off")
    _, refused, _ = gw.wake("alice", "alice")
    assert refused == "no workspace 'alice' for alice"
    assert not os.path.exists(os.path.join(gw.backend_dir, "alice"))


def test_max_per_user(gw):
    gw.write_config(gateway_max_per_user="1")
    sock, _, _ = gw.wake("alice", "alice")
    sock.close()
    _, refused, _ = gw.wake("alice", "alice-2")
    assert refused == "alice has 1 workspaces, the most allowed"
    # bob's count is his own
    sock, refused, _ = gw.wake("bob", "bob")
    assert refused is None
    sock.close()


def test_stopped_by_you_stays_stopped_until_started(gw):
    sock, _, _ = gw.wake("alice", "alice")
    sock.close()
    r = gw.control("alice", "stop alice")
    assert r.returncode == 0, r.stderr
    assert "stays stopped until: ssh alice@gw.example start alice" in r.stdout
    _, refused, _ = gw.wake("alice", "alice")
    assert refused == "stopped by you: ssh alice@gw.example start alice"
    assert gw.control("alice", "status alice").stdout == "alice stopped asked\n"
    [stop] = gw.events("gateway_stop")
    assert stop["reason"] == "asked" and stop["workspace"] == "alice"
    r = gw.control("alice", "start alice")
    assert r.returncode == 0 and r.stdout == "alice is running: ssh alice.ws\n", r.stderr
    sock, refused, _ = gw.wake("alice", "alice")
    assert refused is None and banner(sock).startswith(b"SSH-2.0-")
    sock.close()
    assert gw.starts() == ["alice", "alice"]


def test_messages_say_what_to_type_when_the_gateway_has_a_port(gw):
    """ssh takes no port after the host (ProxyJump does): the messages a
    user copies say -p, and the ProxyJump line keeps HOST:PORT."""
    gw.write_config(gateway_host="127.0.0.1:2296")
    gw.wake("alice", "alice")[0].close()
    r = gw.control("alice", "stop alice")
    assert "until: ssh -p 2296 alice@127.0.0.1 start alice" in r.stdout, r.stdout
    assert gw.wake("alice", "alice")[1] == "stopped by you: ssh -p 2296 alice@127.0.0.1 start alice"
    assert "ProxyJump alice@127.0.0.1:2296" in gw.control("alice", "config").stdout
    gw.write_config(gateway_host="[::1]:2296")
    assert "ssh -p 2296 alice@::1 rm alice --yes" in gw.control("alice", "rm alice").stderr


def test_control_events_go_to_the_log_not_to_the_client(gw):
    """With event_log = stderr a control session's stderr is the client's:
    the event goes to the descriptor the library hands down, else nowhere."""
    gw.write_config(event_log="stderr")
    gw.wake("alice", "alice")[0].close()
    r = gw.control("alice", "stop alice")
    assert r.returncode == 0 and "gateway_stop" not in r.stderr + r.stdout, r.stderr
    assert gw.control("alice", "start alice").returncode == 0
    read, write = os.pipe()
    os.dup2(write, 1000)
    os.close(write)
    env = dict(gw.env, USER="alice", SSH_ORIGINAL_COMMAND="stop alice",
               WS_GATEWAY_CONFIG=gw.config, WS_GATEWAY_LOG_FD="1000")
    try:
        r = subprocess.run([GATEWAY, "control"], env=env, capture_output=True, text=True,
                           timeout=60, pass_fds=[1000])
    finally:
        os.close(1000)
    with os.fdopen(read) as f:
        logged = f.read()
    assert r.returncode == 0 and "{" not in r.stderr, r.stderr
    assert '"event":"gateway_stop"' in logged, logged


def test_a_backend_that_hangs_is_cut_off(gw):
    sock, _, _ = gw.wake("alice", "alice")
    sock.close()
    gw.control("alice", "stop alice")
    gw.control("alice", "start alice")  # clears "asked", running again
    gw.control("alice", "stop alice")
    os.unlink(os.path.join(gw.state, "stopped", "alice"))  # as if stopped elsewhere
    gw.write_config(gateway_wake_timeout="2")
    gw.mode("hang")
    started = time.monotonic()
    _, refused, status = gw.wake("alice", "alice")
    assert time.monotonic() - started < 20
    assert refused == "workspace 'alice' did not start: the backend timed out" and status == 1


def test_a_backend_that_fails_or_prints_garbage(gw):
    sock, _, _ = gw.wake("alice", "alice")
    sock.close()
    gw.mode("garbage")
    _, refused, _ = gw.wake("alice", "alice")
    assert refused == ("workspace 'alice' did not start: "
                       "the backend's status answer is not understood")
    gw.mode("garbage", on=False)
    gw.control("alice", "stop alice")
    os.unlink(os.path.join(gw.state, "stopped", "alice"))
    gw.mode("fail")
    _, refused, _ = gw.wake("alice", "alice")
    # what the backend said may name the engine's sockets and paths: the
    # log gets it, the user where to look
    assert refused == "workspace 'alice' did not start: the backend failed (see the gateway log)"
    [*_, wake] = gw.events("gateway_wake")
    assert wake["result"] == refused
    [*_, problem] = gw.events("gateway_problem")
    assert problem["workspace"] == "alice"
    assert problem["reason"] == "backend start: exit status 1: engine says no"
    r = gw.control("alice", "start alice")
    assert r.returncode == 1 and "engine says no" not in r.stderr


def test_control_lists_configures_and_removes(gw):
    assert gw.control("alice", "").stdout.startswith("no workspaces for alice")
    for name in ("alice", "alice-dev"):
        sock, _, _ = gw.wake("alice", name)
        sock.close()
    gw.control("alice", "stop alice-dev")
    r = gw.control("alice", "list")
    listed = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()[:2]}
    assert listed == {"alice": ["running"], "alice-dev": ["stopped", "(by", "you)"]}
    assert "ssh NAME.ws" in r.stdout
    assert gw.control("bob", "list").stdout.startswith("no workspaces for bob")

    config = gw.control("alice", "config").stdout
    assert "Host *.ws\n    ProxyJump alice@gw.example\n" in config
    for name in ("alice", "alice-dev"):
        pub = open(os.path.join(gw.state, "hostkeys", name + ".pub")).read().strip()
        assert f"\n{name}.ws {pub}\n" in config

    r = gw.control("bob", "stop alice")
    assert r.returncode == 1 and r.stderr == "no workspace 'alice' for bob\n"
    r = gw.control("alice", "rm alice-dev")
    assert r.returncode == 1 and "rm alice-dev --yes" in r.stderr
    assert os.path.isdir(os.path.join(gw.backend_dir, "alice-dev"))
    r = gw.control("alice", "rm alice-dev --yes")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(gw.backend_dir, "alice-dev"))
    assert not os.path.exists(os.path.join(gw.state, "hostkeys", "alice-dev"))
    assert gw.events("gateway_delete")[0]["workspace"] == "alice-dev"
    r = gw.control("alice", "sftp")
    assert r.returncode == 2 and r.stderr.startswith("commands:")


def test_grants_let_another_user_in_but_not_remove(gw):
    sock, _, _ = gw.wake("alice", "alice")
    sock.close()
    grants = os.path.join(gw.root, "grants")
    with open(grants, "w") as f:
        f.write("bob alice\n")
    gw.write_config(gateway_grants=grants)
    sock, refused, _ = gw.wake("bob", "alice")
    assert refused is None and banner(sock).startswith(b"SSH-2.0-")
    sock.close()
    assert gw.control("bob", "list").stdout.split()[:2] == ["alice", "running"]
    r = gw.control("bob", "rm alice --yes")
    assert r.returncode == 1 and r.stderr == "no workspace 'alice' for bob\n"
    # a grantee never creates
    _, refused, _ = gw.wake("bob", "alice-new")
    assert refused == "no workspace 'alice-new' for bob"


def test_keeper_stops_idle_workspaces_and_a_jump_wakes_them(gw):
    sock, _, _ = gw.wake("alice", "alice")
    sock.close()
    long_ago = f"{int(time.time() * 1000) - 60000}\n"
    with open(os.path.join(gw.backend_dir, "alice", "activity"), "w") as f:
        f.write(long_ago)
    with open(os.path.join(gw.state, "woken", "alice"), "w") as f:
        f.write(long_ago)  # woken long ago too
    gw.write_config(gateway_idle_stop="10")
    keeper = subprocess.Popen([GATEWAY, "--config", gw.config, "keeper"], env=gw.env)
    try:
        assert wait_for(lambda: gw.events("gateway_stop"), timeout=20)
    finally:
        keeper.terminate()
        assert keeper.wait(timeout=10) == 0
    [stop] = gw.events("gateway_stop")
    assert stop["reason"] == "idle" and stop["idle_ms"] >= 60000
    assert gw.control("alice", "status alice").stdout == "alice stopped idle\n"
    sock, refused, _ = gw.wake("alice", "alice")
    assert refused is None and banner(sock).startswith(b"SSH-2.0-")
    sock.close()


# --- the hook library's side, as the server calls it (ws_hook.h) ---

class WsConn(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("session_id", ctypes.c_char_p),
                ("client_addr", ctypes.c_char_p), ("client_port", ctypes.c_char_p),
                ("user", ctypes.c_char_p), ("auth_method", ctypes.c_char_p),
                ("key_fingerprint", ctypes.c_char_p), ("pid", ctypes.c_long)]


STARTUP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p,
                           ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
SHUTDOWN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
USER_LOOKUP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(WsConn),
                               ctypes.c_char_p)
TCP_ROUTE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(WsConn),
                             ctypes.c_char_p, ctypes.c_uint, ctypes.POINTER(ctypes.c_int),
                             ctypes.c_char_p, ctypes.c_size_t)
UNUSED = ctypes.c_void_p


class WsHooks(ctypes.Structure):
    _fields_ = [("abi_version", ctypes.c_uint32), ("struct_size", ctypes.c_uint32),
                ("name", ctypes.c_char_p), ("startup", STARTUP)] + \
        [(f"unused{i}", UNUSED) for i in range(8)] + \
        [("shutdown", SHUTDOWN)] + [(f"unused_b{i}", UNUSED) for i in range(4)] + \
        [("user_lookup", USER_LOOKUP), ("authorized_keys", UNUSED), ("tcp_route", TCP_ROUTE)]


def test_the_library_routes_a_jump_through_ws_gateway_wake(gw):
    """tcp_route in a gateway-role library runs the real ws-gateway wake
    and returns the socketpair end the server watches: one message with
    the workspace's connected socket."""
    gw.write_config(gateway_program=GATEWAY)
    lib = ctypes.CDLL(os.path.join(BUILD, "lib", "ssh-workspace-hooks.so"))
    lib.ws_hook_entry.restype = ctypes.POINTER(WsHooks)
    hooks = lib.ws_hook_entry().contents
    assert hooks.struct_size == ctypes.sizeof(WsHooks)
    ctx = ctypes.c_void_p()
    err = ctypes.create_string_buffer(512)
    os.environ.update(GW_TEST_DIR=gw.backend_dir, DROPBEAR=DROPBEAR)  # for the backend
    assert hooks.startup(ctypes.byref(ctx), gw.config.encode(), 0, err, 512) == 0, err.value
    try:
        conn = WsConn(ctypes.sizeof(WsConn), b"0123456789abcdef", b"127.0.0.1", b"40000",
                      None, None, None, os.getpid())
        assert hooks.user_lookup(ctx, ctypes.byref(conn), b"alice") == 1
        conn.user = b"alice"
        fd = ctypes.c_int(-1)
        reason = ctypes.create_string_buffer(256)
        assert hooks.tcp_route(ctx, ctypes.byref(conn), b"alice.ws", 22, ctypes.byref(fd),
                               reason, 256) == 2  # WS_ROUTE_PENDING
        with socket.socket(fileno=fd.value) as pending:
            pending.settimeout(60)
            msg, fds, _, _ = socket.recv_fds(pending, 4096, 1)
        assert len(fds) == 1, msg
        with socket.socket(fileno=fds[0]) as sock:
            assert banner(sock).startswith(b"SSH-2.0-")
        assert hooks.tcp_route(ctx, ctypes.byref(conn), b"alice.ws", 2222, ctypes.byref(fd),
                               reason, 256) == 1  # WS_ROUTE_REFUSE
        assert reason.value == b"only port 22 of a workspace"
    finally:
        hooks.shutdown(ctx)
        for k in ("GW_TEST_DIR", "DROPBEAR"):
            os.environ.pop(k, None)
    routes = gw.events("gateway_route")
    assert routes and routes[0]["workspace"] == "alice" and routes[0]["user"] == "alice"
    assert gw.events("gateway_wake")[0]["result"] == "ok"


LISTENER = """
import ctypes, sys, time
sys.path.insert(0, {here!r})
from test_gateway import WsHooks
lib = ctypes.CDLL({lib!r})
lib.ws_hook_entry.restype = ctypes.POINTER(WsHooks)
hooks = lib.ws_hook_entry().contents
ctx = ctypes.c_void_p()
err = ctypes.create_string_buffer(512)
assert hooks.startup(ctypes.byref(ctx), {config!r}.encode(), 1, err, 512) == 0, err.value
print("started", flush=True)
time.sleep(600)
"""


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_the_keeper_ends_with_the_listener_however_it_ends(gw):
    """The listener starts ws-gateway keeper; killed outright (no shutdown
    hook), the keeper notices within a few seconds and stops."""
    gw.write_config(gateway_program=GATEWAY, gateway_idle_stop="1h")
    code = LISTENER.format(here=os.path.dirname(os.path.realpath(__file__)),
                           lib=os.path.join(BUILD, "lib", "ssh-workspace-hooks.so"),
                           config=gw.config)
    listener = subprocess.Popen(["/usr/bin/python3", "-c", code], env=gw.env,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline() == "started\n"
        with open(f"/proc/{listener.pid}/task/{listener.pid}/children") as f:
            [keeper] = [int(p) for p in f.read().split()]

        def cmdline():
            with open(f"/proc/{keeper}/cmdline") as f:
                return f.read().split("\0")[:4]
        # (until it has exec'd)
        assert wait_for(lambda: cmdline() == [GATEWAY, "--config", gw.config, "keeper"])
    finally:
        listener.kill()
        listener.wait()
    assert wait_for(lambda: gone(keeper), timeout=10)

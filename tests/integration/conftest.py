"""Shared fixtures: the built server started on a free loopback port as an
unprivileged uid, and the real OpenSSH client to talk to it.

When the tests run as root the server still runs as a non-root uid (setpriv),
in a private mount namespace whose /etc/passwd and /etc/group are copies with
the workspace user added (bind mounts), so sessions and the programs they run
(sftp-server, id) see the user while nothing on the machine changes.  As
another user the server runs as that user, named `developer` through
nss_wrapper."""
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

# real paths: the server's uid may reach them only through the binds of
# as-workspace-user.sh, which are made at the real paths
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
BUILD = os.path.realpath(os.environ.get("WS_BUILD", os.path.join(REPO, "build")))
DROPBEAR = os.path.join(BUILD, "bin", "dropbear")
DROPBEARKEY = os.path.join(BUILD, "bin", "dropbearkey")
HOOK_LIB = os.path.join(BUILD, "lib", "ssh-workspace-hooks.so")
# make stress: the fault tests again with the hook library built with ASan
# and UBSan (WS_HOOK_LIB), its runtime preloaded into the server (WS_ASAN_PRELOAD)
HOOK_LIB = os.path.realpath(os.environ.get("WS_HOOK_LIB") or HOOK_LIB)
ASAN_PRELOAD = os.environ.get("WS_ASAN_PRELOAD")
USER = "developer"
AS_WORKSPACE_USER = os.path.join(REPO, "dropbear", "as-workspace-user.sh")


def pytest_configure(config):
    # `make stress` runs these (WS_STRESS=1 pytest -m stress): the long load
    # and fault variants; make check skips them
    config.addinivalue_line("markers", "stress: a long load or fault variant (make stress)")


def unique(label):
    """A test value to assert present in or absent from output: random and
    long, so that no path, host name or other text holds it by chance (a
    short literal such as "bar" fails the test in a checkout under .../bars/)."""
    return f"{label}-{secrets.token_hex(8)}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """Is something listening on 127.0.0.1:port?  Read from /proc rather than
    by connecting, so that no connection (and no event) is made."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(line.split()[1] == want and line.split()[3] == "0A"
                   for line in f.readlines()[1:])


def wait_for(predicate, timeout=10):
    """Polls predicate until it returns something true (returned) or timeout
    seconds pass (None): every wait in these tests is bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    return None


def unused_uid(start):
    uid = start
    while True:
        try:
            pwd.getpwuid(uid)
            uid += 1
        except KeyError:
            return uid


def nss_wrapper():
    found = glob.glob("/usr/lib/*/libnss_wrapper.so") + glob.glob("/usr/lib/libnss_wrapper.so")
    assert found, "libnss-wrapper is not installed (tests/deps.sh --install check)"
    return found[0]


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", path],
                   check=True, timeout=30)
    return path


class BackendFiles:
    """What the test backend (gateway_backend.sh) keeps in self.backend_dir:
    the names it started, in order, and the modes a test sets it in."""

    def starts(self):
        try:
            with open(os.path.join(self.backend_dir, "starts")) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def mode(self, name, value="", on=True):
        path = os.path.join(self.backend_dir, "mode-" + name)
        if on:
            with open(path, "w") as f:
                f.write(value)
        elif os.path.exists(path):
            os.unlink(path)


class Workspace:
    """A directory holding everything one server needs: host key, client key,
    the workspace user's home and passwd entries, the hook config, the log."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="ws-test-")
        os.chmod(self.root, 0o755)  # the server's uid must reach it
        if os.getuid() == 0:
            self.uid = unused_uid(20000)
            self.gid = self.uid
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        self.home = self.path("home")
        os.makedirs(os.path.join(self.home, ".ssh"), mode=0o700)
        os.chmod(self.home, 0o700)
        self.hostkey = self.path("hostkey")
        subprocess.run([DROPBEARKEY, "-t", "ed25519", "-f", self.hostkey],
                       check=True, capture_output=True, timeout=30)
        self.key = keygen(self.path("id_ed25519"))
        self.authorize(self.key + ".pub")
        hostpub = subprocess.run([DROPBEARKEY, "-y", "-f", self.hostkey], check=True,
                                 capture_output=True, text=True, timeout=30).stdout
        self.hostpub = next(line for line in hostpub.splitlines() if line.startswith("ssh-"))
        # "other" exists but has another uid: the server must refuse it
        with open(self.path("passwd"), "w") as f:
            f.write(f"{USER}:x:{self.uid}:{self.gid}:workspace:{self.home}:/bin/bash\n")
            f.write(f"other:x:{self.uid + 1}:{self.gid}:other:{self.home}:/bin/bash\n")
        with open(self.path("group"), "w") as f:
            f.write(f"{USER}:x:{self.gid}:\n")
        self.config = self.write_config("event_log = stderr\n")
        self.server_dir = self.path("server")  # writable by the server's uid
        os.makedirs(self.server_dir)
        # the server's XDG_RUNTIME_DIR: the hook library's default agent_dir
        # goes there, not to a machine-wide /tmp/ssh-workspace-agent-UID
        self.runtime_dir = self.path("runtime")
        os.makedirs(self.runtime_dir, mode=0o700)
        self.chown(self.home, self.hostkey, self.server_dir, self.runtime_dir)

    def system_file(self, name):
        """/etc/NAME with the workspace's entries added, for the bind mount."""
        path = self.path(f"etc-{name}")
        if not os.path.exists(path):
            with open(f"/etc/{name}") as system, open(self.path(name)) as ours, \
                    open(path, "w") as out:
                out.write(system.read() + ours.read())
            os.chmod(path, 0o644)
        return path

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def chown(self, *paths):
        if os.getuid() != 0:
            return
        for top in paths:
            os.chown(top, self.uid, self.gid)
            for d, dirs, files in os.walk(top):
                for name in dirs + files:
                    os.chown(os.path.join(d, name), self.uid, self.gid)

    def authorize(self, pubkey_path):
        ak = os.path.join(self.home, ".ssh", "authorized_keys")
        with open(pubkey_path) as src, open(ak, "a") as dst:
            dst.write(src.read())
        os.chmod(ak, 0o600)
        self.chown(ak)

    def write(self, name, text, mode):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def write_config(self, text, name="hooks.conf"):
        return self.write(name, text, 0o644)

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


def as_workspace_user(ws, args, tmpfs_tmp=False, runtime_dir=True):
    """(argv, env) that run args as the workspace user (see the top).
    runtime_dir: XDG_RUNTIME_DIR is the workspace's own (else unset)."""
    env = dict(os.environ)
    env.pop("XDG_RUNTIME_DIR", None)
    if runtime_dir:
        env["XDG_RUNTIME_DIR"] = ws.runtime_dir
    if os.getuid() != 0:
        return args, dict(env, LD_PRELOAD=nss_wrapper(),
                          NSS_WRAPPER_PASSWD=ws.path("passwd"), NSS_WRAPPER_GROUP=ws.path("group"))
    # tmpfs_tmp: the server and its sessions get a /tmp of their own on a
    # tmpfs, as in a pod with an emptyDir of medium Memory.  The workspace,
    # the build and the repository stay reachable by the server's uid, also
    # from a checkout under a directory closed to others (/root).
    return as_workspace_user_argv(ws, tmpfs_tmp) + ["--"] + args, env


def as_workspace_user_argv(ws, tmpfs_tmp=False):
    """dropbear/as-workspace-user.sh's command line, without the command
    (root only; it makes a private mount namespace of its own)."""
    argv = [AS_WORKSPACE_USER, str(ws.uid), str(ws.gid), "--passwd", ws.system_file("passwd"),
            "--group", ws.system_file("group")]
    for path in (ws.root, BUILD, REPO, os.path.dirname(HOOK_LIB)):
        argv += ["--reach", path]
    return argv + (["--private-tmp"] if tmpfs_tmp else [])


def with_home_tmpfs(ws, size, args):
    """args run with the workspace home on a tmpfs of `size` (e.g. "1m")
    holding a copy of its files, in a mount namespace of their own (root
    only): a small home volume that a test can fill."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec",
            'cd "$1"; mount -t tmpfs -o "size=$2,mode=0700,uid=$3,gid=$4" tmpfs "$1"; '
            'cp -a . "$1"; cd /; shift 4; exec "$@"',
            "sh", ws.home, size, str(ws.uid), str(ws.gid)] + args


class Server:
    def __init__(self, ws, hook=HOOK_LIB, config="default", extra_args=(), tmpfs_tmp=False,
                 home_size=None, runtime_dir=True):
        self.ws = ws
        self.port = free_port()
        self.log_path = ws.path(f"server-{self.port}.log")
        args = [DROPBEAR, "-F", "-E", "-w", "-p", f"127.0.0.1:{self.port}",
                "-r", ws.hostkey, "-P", ws.path(f"dropbear-{self.port}.pid")]
        if hook:
            args.append(f"--hook={hook}")
        if config == "default":
            config = ws.config
        if config:
            args.append(f"--hook-config={config}")
        args += list(extra_args)
        args, env = as_workspace_user(ws, args, tmpfs_tmp, runtime_dir)
        if ASAN_PRELOAD:  # first, before nss_wrapper; reports go to the log
            env["LD_PRELOAD"] = " ".join(filter(None, [ASAN_PRELOAD, env.get("LD_PRELOAD")]))
            env["ASAN_OPTIONS"] = "detect_leaks=0"
        if home_size:
            args = with_home_tmpfs(ws, home_size, args)
        self.known_hosts = ws.path(f"known_hosts-{self.port}")
        with open(self.known_hosts, "w") as f:
            f.write(f"[127.0.0.1]:{self.port} {ws.hostpub}\n")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=10):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}):\n{self.output()}")
            return listening(self.port)
        assert wait_for(ready, timeout), f"server not listening after {timeout}s:\n{self.output()}"
        return self

    def wait_exit(self, timeout=10):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def events(self):
        out = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))  # every JSON line must parse
        return out

    def wait_event(self, event, session=None, timeout=5):
        def found():
            return next((e for e in self.events() if e["event"] == event
                         and session in (None, e.get("session"))), None)
        e = wait_for(found, timeout)
        assert e, f"no {event} event:\n{self.output()}"
        return e

    def ssh_args(self, user=USER, key=None, options=()):
        """The caller's options come first: for ssh the first value wins."""
        args = ["ssh", "-F", "/dev/null", "-p", str(self.port), "-i", key or self.ws.key]
        for opt in options:
            args += ["-o", opt]
        args += ["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=10"]
        return args + [f"{user}@127.0.0.1"]

    def ssh(self, command, user=USER, key=None, options=(), extra=(), input=None, timeout=30):
        args = self.ssh_args(user, key, options) + list(extra)
        if command is not None:
            args.append(command)
        stdin = {} if input is not None else {"stdin": subprocess.DEVNULL}
        return subprocess.run(args, capture_output=True, input=input, timeout=timeout,
                              text=isinstance(input, str) or input is None, **stdin)

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def write_exec(ws, name, text):
    """An executable script in the workspace (env helpers and the like)."""
    return ws.write(name, text, 0o755)


def kill_session_leftovers(server):
    """Ends what sessions left running: their commands are in process groups
    of their own (setsid), named by the session_start events."""
    for e in server.events():
        if e["event"] == "session_start":
            try:
                os.killpg(e["pid"], signal.SIGKILL)
            except OSError:
                pass


def kill_processes_naming(directory, timeout=10):
    """SIGKILLs every process whose command line or environment names a
    path under directory, until none is left (at most timeout seconds):
    all that a test started there, however detached (a setsid session, a
    double fork), as each has its paths in its arguments or inherits them
    (HOME, XDG_RUNTIME_DIR, a backend's settings).  The number killed."""
    want = os.path.join(directory, "").encode()
    killed = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    named = want in f.read()
                if not named:
                    with open(f"/proc/{entry}/environ", "rb") as f:
                        named = want in f.read()
                if named:
                    os.kill(int(entry), signal.SIGKILL)
                    found += 1
            except (OSError, ValueError):
                pass  # gone, or not ours to read
        if not found:
            return killed
        killed += found
        time.sleep(0.1)
    return killed


def stop_process(proc):
    """SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)  # raises rather than wait for ever


def serve_with(start_server, workspace, config):
    """A server (ready) whose hook config is `event_log = stderr` and config."""
    workspace.config = workspace.write_config("event_log = stderr\n" + config)
    return start_server().wait_ready()


def assert_startup_stops(server, message):
    """The server (started, not waited for) exits non-zero before it
    listens, with message in its output."""
    rc = server.wait_exit()
    assert rc is not None, "the server kept running"
    assert rc != 0
    assert message in server.output(), server.output()
    assert not listening(server.port)


@pytest.fixture
def workspace():
    ws = Workspace()
    yield ws
    ws.cleanup()


@pytest.fixture
def start_server(workspace):
    """start_server(**kw) -> a Server (not waited for); all are stopped after the test."""
    servers = []

    def start(**kw):
        s = Server(workspace, **kw)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def server(start_server):
    return start_server().wait_ready()


@pytest.fixture
def gateway_factory(workspace, start_server):
    """make(**hook config keys) -> a gateway_e2e.Gateway (ready), with its
    workspaces stopped after the test."""
    from gateway_e2e import Gateway
    made = []

    def make(**keys):
        g = Gateway(workspace, start_server, **keys)
        made.append(g)
        return g
    yield make
    try:
        for g in made:
            g.server.stop()  # first: no new login wakes a workspace after this
            g.stop_all()
    finally:
        # what the server started and outlives it (a control session or a
        # wake still running after a failed test) would start a workspace later
        kill_processes_naming(workspace.root)


@pytest.fixture
def gateway(gateway_factory):
    """A gateway with the default settings of gateway_e2e.py."""
    return gateway_factory()

"""Fixtures for the container image tests: the image (built by `make image`,
named by WS_IMAGE) run with podman like a restricted pod, a kubelet-style
Secret directory for the authorized keys, and the OpenSSH client.

Every container uses the host network and its server listens on a free
127.0.0.1 port (WS_LISTEN), so nothing is reachable from outside.  Podman
runs as root here, so the image's uid is a real one: these tests need root
(CI runs as root) and are skipped otherwise."""
import importlib.util
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# Shared with the integration tests: free_port, listening, wait_for, keygen.
_spec = importlib.util.spec_from_file_location(
    "integration_helpers", os.path.join(REPO, "tests", "integration", "conftest.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)
free_port, listening, wait_for, keygen = (helpers.free_port, helpers.listening,
                                          helpers.wait_for, helpers.keygen)
stop_process = helpers.stop_process
DROPBEARKEY = helpers.DROPBEARKEY

# Shared with the chart's end-to-end tests: podman() with the same
# containers.conf as the image build (container-image/build.sh), the image.
_spec = importlib.util.spec_from_file_location(
    "podman_cli", os.path.join(REPO, "tests", "podman_cli.py"))
_podman_cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_podman_cli)
podman, IMAGE, PODMAN_CONF = _podman_cli.podman, _podman_cli.IMAGE, _podman_cli.PODMAN_CONF
podman_service_proc = _podman_cli.service

SECCOMP = os.path.join(REPO, "container-image", "seccomp-podman.json")
# What a restricted pod gets: see the Helm chart (helm/ssh-workspace).
# --passwd=false: like Kubernetes, podman then adds no passwd entry of its own
# for the uid (which would name the uid by its number).
RESTRICTED = ["--read-only", "--cap-drop=ALL", "--security-opt", "no-new-privileges",
              "--tmpfs", "/run", "--tmpfs", "/tmp", "--passwd=false"]
KEYS_DIR = "/etc/ssh-workspace/authorized-keys"
HOSTKEY_DIR = "/etc/ssh-workspace/host-key"


@pytest.fixture(scope="session", autouse=True)
def image_ready():
    if os.getuid() != 0:
        pytest.skip("the image tests run podman as root (real uids for --user)")
    assert shutil.which("podman"), "podman is missing: tests/deps.sh --install check"
    r = podman("image", "exists", IMAGE, check=False)
    assert r.returncode == 0, f"no image {IMAGE}: build it with `make image`"


class KeySecret:
    """A directory laid out as the kubelet mounts a Secret with the key
    authorized_keys: authorized_keys -> ..data/authorized_keys, ..data ->
    ..<timestamp>/.  update() swaps it the way the kubelet does: a new
    timestamped directory, a ..data_tmp symlink renamed over ..data.  The
    directory itself is mode 1777, as the kubelet makes a Secret volume's
    (a tmpfs it mounts read-only into the container)."""

    def __init__(self, root, text):
        self.dir = tempfile.mkdtemp(prefix="authorized-keys-", dir=root)
        os.chmod(self.dir, 0o1777)
        self.current = None
        self.update(text)
        os.symlink("..data/authorized_keys", os.path.join(self.dir, "authorized_keys"))

    def update(self, text):
        stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{uuid.uuid4().hex[:8]}"
        os.mkdir(os.path.join(self.dir, stamp), 0o755)
        path = os.path.join(self.dir, stamp, "authorized_keys")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink(stamp, tmp)
        os.rename(tmp, os.path.join(self.dir, "..data"))
        if self.current:
            shutil.rmtree(os.path.join(self.dir, self.current))
        self.current = stamp


class Keys:
    """Client key pairs made on demand: keys.path("a"), keys.pub("a")."""

    def __init__(self, root):
        self.root = root

    def path(self, name):
        p = os.path.join(self.root, f"id_{name}")
        if not os.path.exists(p):
            keygen(p)
        return p

    def pub(self, name):
        with open(self.path(name) + ".pub") as f:
            return f.read()


class Workspace:
    """One workspace container (restarted with start()/stop()), its home
    volume, its key Secret and the ssh client that logs into it."""

    def __init__(self, root, keys, name_prefix):
        self.root = root
        self.keys = keys
        self.name = f"{name_prefix}-{uuid.uuid4().hex[:8]}"
        self.volumes = []
        self.port = None

    def volume(self, owner=None):
        """A named volume; owner=(uid, gid) hands its root to that uid, as a
        Kubernetes fsGroup would.  Removed after the test."""
        vol = f"{self.name}-{len(self.volumes)}"
        podman("volume", "create", vol)
        self.volumes.append(vol)
        if owner:
            path = podman("volume", "inspect", "--format", "{{.Mountpoint}}", vol).stdout.strip()
            os.chown(path, *owner)
        return vol

    def home_and_keys(self, user="developer", uid=1000, gid=1000, keys_text=None):
        """The usual mounts: a home volume handed to uid:gid, and a key Secret
        holding keys_text (default: key "a").  Returns the KeySecret and the
        -v arguments."""
        secret = KeySecret(self.root, self.keys.pub("a") if keys_text is None else keys_text)
        home = self.volume(owner=(uid, gid))
        return secret, [f"{home}:/home/{user}", f"{secret.dir}:{KEYS_DIR}:ro"]

    def run_args(self, user="1000:1000", env=None, mounts=(), extra=(), seccomp=SECCOMP):
        """seccomp: the profile's path, or None for the runtime's default."""
        self.port = free_port()
        args = ["--name", self.name, "--network", "host", "--user", user, *RESTRICTED,
                "-e", f"WS_LISTEN=127.0.0.1:{self.port}"]
        if seccomp:
            args += ["--security-opt", f"seccomp={seccomp}"]
        for k, v in (env or {}).items():
            args += ["-e", f"{k}={v}"]
        for m in mounts:
            args += ["-v", m]
        return args + list(extra) + [IMAGE]

    def start(self, **kw):
        podman("run", "-d", *self.run_args(**kw))

        def ready():
            state = podman("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip()
            if state != "true":
                raise AssertionError(f"container exited:\n{self.logs()}")
            return listening(self.port)
        assert wait_for(ready, 30), f"server not listening after 30s:\n{self.logs()}"
        return self

    def run_foreground(self, timeout=60, **kw):
        """Runs the container to completion (for inputs it must refuse)."""
        r = podman("run", "--rm", *self.run_args(**kw), check=False, timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    def logs(self):
        r = podman("logs", self.name, check=False)
        return r.stdout + r.stderr

    def stop(self):
        podman("rm", "-f", "-t", "5", self.name, check=False)

    def ssh(self, command, user="developer", key="a", known_hosts=None, input=None, timeout=120):
        strict = (["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"]
                  if known_hosts else
                  ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no"])
        args = ["ssh", "-F", "/dev/null", "-p", str(self.port), "-i", self.keys.path(key),
                "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", *strict,
                f"{user}@127.0.0.1", command]
        return subprocess.run(args, capture_output=True, timeout=timeout, input=input,
                              **({} if input is not None else {"stdin": subprocess.DEVNULL}))

    def cleanup(self):
        self.stop()
        for vol in self.volumes:
            podman("volume", "rm", "-f", vol, check=False)


@pytest.fixture
def tmp_root():
    root = tempfile.mkdtemp(prefix="ws-image-test-")
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def keys(tmp_root):
    return Keys(tmp_root)


@pytest.fixture
def workspace(tmp_root, keys):
    ws = Workspace(tmp_root, keys, "ws-image-test")
    yield ws
    ws.cleanup()


def mounted_file(root, dirname, name, content):
    """A directory holding one file (mode 0644), as a Secret or ConfigMap
    volume shows it; returns the directory."""
    d = os.path.join(root, dirname)
    os.mkdir(d, 0o755)
    with open(os.path.join(d, name), "w") as f:
        f.write(content)
    os.chmod(os.path.join(d, name), 0o644)
    return d


def text(result):
    return result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")


class RunGateway:
    """dropbear/run-gateway.sh (`make run-gateway`) started as root with
    users of random names on a free port, in a run directory of the test's
    own: the gateway runs as an unused uid and drives root podman through
    the podman service the script starts for it.  .lines are the ssh lines
    it printed, per user; stop() ends it as Ctrl-C would, cleanup() also
    removes every container, volume and secret of its users."""

    def __init__(self, root, users=("alice", "bob"), idle_stop="30m"):
        suffix = secrets.token_hex(3)
        self.users = [f"{u}{suffix}" for u in users]
        self.port = free_port()
        self.uid = helpers.unused_uid(23000)
        self.root = root
        self.run = os.path.join(root, "run", "gateway")
        env = dict(os.environ, WS_RUN_DIR=os.path.join(root, "run"), WS_GATEWAY_PORT=str(self.port),
                   WS_GATEWAY_USERS=" ".join(self.users), WS_GATEWAY_IMAGE=IMAGE,
                   WS_GATEWAY_IDLE_STOP=idle_stop, WS_RUN_UID=str(self.uid),
                   WS_BUILD=os.path.realpath(os.environ.get("WS_BUILD",
                                                            os.path.join(REPO, "build"))))
        for var in ("SUDO_UID", "SUDO_GID", "WS_PODMAN_URL"):
            env.pop(var, None)
        self.log = open(os.path.join(root, "run-gateway.log"), "w+")
        self.proc = subprocess.Popen([os.path.join(REPO, "dropbear", "run-gateway.sh")], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)
        self.lines = {}

        def printed():
            text = self.output()
            for u in self.users:
                m = re.search(rf"^\s+(ssh -F .* {u}\.ws)$", text, re.M)
                if not m:
                    return False
                self.lines[u] = shlex.split(m.group(1))
            return True
        ok = wait_for(lambda: printed() or self.proc.poll() is not None, 60) and printed()
        assert ok and wait_for(lambda: listening(self.port), 30), self.output()
        self.config = self.lines[self.users[0]][2]
        self.socket = os.path.join(self.run, "podman", "podman.sock")

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def gateway_pid(self):
        with open(os.path.join(self.run, "home", "dropbear.pid")) as f:
            return int(f.read())

    def ssh(self, host, command, jump=None, timeout=120, check=True):
        """ssh -F the printed config HOST COMMAND; jump: an explicit
        `ssh -J USER@127.0.0.1:PORT` instead of the config's ProxyJump."""
        args = ["ssh", "-F", self.config, "-o", "BatchMode=yes", "-o", "ConnectTimeout=20"]
        if jump:
            args += ["-J", f"{jump}-gw"]
        r = subprocess.run(args + [host, command], capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check:
            assert r.returncode == 0, f"ssh {host} {command}: {r.stderr}\n{self.output()[-3000:]}"
        return r

    def control(self, user, command, check=True):
        return self.ssh(f"{user}-gw", command, check=check)

    def status(self, name):
        """The backend's answer, through root's own podman."""
        r = podman("container", "inspect", "--format", "{{.State.Running}}", f"ws-{name}",
                   check=False)
        if r.returncode != 0:
            return "missing"
        return "running" if r.stdout.strip() == "true" else "stopped"

    def stop(self):
        helpers.stop_process(self.proc)
        return self.proc.returncode

    def service_pids(self):
        """The podman service the script started for this gateway."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv[1:3] == [b"system", b"service"] and f"unix://{self.socket}".encode() in argv:
                found.append(int(pid))
        return found

    def cleanup(self):
        # as Ctrl-C would; then whatever a script killed half-way left
        self.stop()
        leftovers = self.service_pids()
        try:
            pid = self.gateway_pid()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if self.run.encode() in f.read():
                    leftovers.append(pid)
        except (OSError, ValueError):
            pass
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        def ours(name, prefix):
            return any(name == f"{prefix}{u}" or name.startswith(f"{prefix}{u}-")
                       for u in self.users)
        for c in podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split():
            if ours(c, "ws-"):
                podman("rm", "-f", "-t", "2", c, check=False)
        for v in podman("volume", "ls", "--format", "{{.Name}}", check=False).stdout.split():
            if ours(v, "ws-home-"):
                podman("volume", "rm", "-f", v, check=False)
        for s in podman("secret", "ls", "--format", "{{.Name}}", check=False).stdout.split():
            if any(ours(s, f"ws-{kind}-") for kind in ("keys", "hostkey", "hooks")):
                podman("secret", "rm", s, check=False)
        for n in podman("network", "ls", "--format", "{{.Name}}", check=False).stdout.split():
            if ours(n, "ws-net-"):
                podman("network", "rm", n, check=False)
        self.log.close()


@pytest.fixture
def run_gateway(tmp_root):
    """run_gateway(**kw) starts one RunGateway; all are cleaned up after."""
    started = []

    def start(**kw):
        gw = RunGateway(tmp_root, **kw)
        started.append(gw)
        return gw
    yield start
    for gw in started:
        gw.cleanup()

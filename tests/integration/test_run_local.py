"""`make run`'s script: starts an unprivileged server and prints an ssh line
that works as printed, with sessions that see the workspace user (sftp,
scp, id, git), as root or as a normal user, also from a checkout under a
directory closed to others."""
import os
import re
import selectors
import shlex
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import (BUILD, REPO, free_port, listening, stop_process, unique, unused_uid,
                      wait_for)

SCRIPTS = ("run-local.sh", "run-lib.sh", "as-workspace-user.sh")


@pytest.fixture
def scratch():
    """A directory of the test's own, open to the server's uid."""
    d = tempfile.mkdtemp(prefix="ws-run-local-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def checkout_copy(parent, tests=()):
    """What `make run` (and the named integration tests) need of a checkout,
    copied to PARENT/co: the scripts, the built server and library."""
    top = os.path.join(parent, "co")
    os.makedirs(os.path.join(top, "dropbear"))
    for name in SCRIPTS:
        shutil.copy2(os.path.join(REPO, "dropbear", name), os.path.join(top, "dropbear", name))
    for sub in ("bin", "lib"):
        shutil.copytree(os.path.join(BUILD, sub), os.path.join(top, "build", sub))
    if tests:
        os.makedirs(os.path.join(top, "tests", "integration"))
        for name in ("conftest.py",) + tests:
            shutil.copy2(os.path.join(REPO, "tests", "integration", name),
                         os.path.join(top, "tests", "integration", name))
    return top


def read_until(proc, pattern, timeout):
    """Collects the script's stdout until a line matches; returns (match, text)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    text, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=0.2):
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        text += line
        m = re.search(pattern, line)
        if m:
            return m, text
    return None, text


class MakeRun:
    """run-local.sh started with env (as the caller, or through `as_uid`);
    .line is the ssh command line it printed, split.  The server's uid
    (WS_RUN_UID as root) gets a runtime directory in scratch, so that the
    agent's directory is the test's own."""

    def __init__(self, script, env, scratch, as_uid=None):
        self.port = free_port()
        env = dict(env, WS_PORT=str(self.port))
        env.pop("SUDO_UID", None)
        env.pop("SUDO_GID", None)
        # what the caller's environment holds must not reach sessions
        self.marker = unique("caller-env")
        env["WS_CALLER_MARKER"] = self.marker
        uid = as_uid if as_uid is not None else os.getuid()
        if uid == 0:
            uid = unused_uid(22000)
            env["WS_RUN_UID"] = str(uid)
        self.runtime_dir = os.path.join(scratch, "runtime")
        os.mkdir(self.runtime_dir, 0o700)
        os.chown(self.runtime_dir, uid, uid)
        env["XDG_RUNTIME_DIR"] = self.runtime_dir
        argv = [script]
        if as_uid is not None:
            argv = ["setpriv", f"--reuid={as_uid}", f"--regid={as_uid}", "--clear-groups",
                    "--"] + argv
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        m, self.text = read_until(self.proc, r"^\s+(ssh -i .*)$", timeout=30)
        assert m, f"no ssh line printed:\n{self.text}"
        assert wait_for(lambda: listening(self.port)), self.text
        self.line = shlex.split(m.group(1))
        announced = re.search(r"runs as unprivileged uid (\d+)", self.text)
        self.uid = int(announced.group(1)) if announced else uid

    def ssh(self, command):
        r = subprocess.run(self.line + ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", command],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def copy_args(self):
        """The printed line's options for sftp and scp (-P for the port),
        and its user@host."""
        args, it = [], iter(self.line[1:-1])
        for a in it:
            args += ["-P" if a == "-p" else a, next(it)]
        return args + ["-o", "BatchMode=yes"], self.line[-1]

    def stop(self):
        stop_process(self.proc)


def sessions_see_the_workspace_user(run, scratch):
    """id, whoami, git's author name and both copy programs in both
    directions: each looks the session's uid up."""
    out = run.ssh("id -un; whoami; id -u; echo $USER; EMAIL=w@example.org git var GIT_AUTHOR_IDENT; "
                  "echo $SSH_AUTH_SOCK; env")
    name, who, uid, user, ident, agent = out.splitlines()[:6]
    assert agent == os.path.join(run.runtime_dir, "ssh-workspace-agent", "agent.sock"), out
    assert (name, who, user) == ("developer", "developer", "developer"), out
    assert int(uid) != 0 and int(uid) == run.uid
    assert run.marker not in out
    assert ident.startswith("workspace user <w@example.org> "), out
    status = open(f"/proc/{run.proc.pid}/status").read()
    assert int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)) == int(uid)

    options, target = run.copy_args()
    up = os.path.join(scratch, "up.bin")
    with open(up, "wb") as f:
        f.write(os.urandom(100000))
    data = open(up, "rb").read()
    batch = os.path.join(scratch, "batch")
    with open(batch, "w") as f:
        f.write(f"put {up} sftp-up.bin\nget sftp-up.bin {scratch}/sftp-down.bin\n")
    r = subprocess.run(["sftp", "-b", batch] + options + [target], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert open(f"{scratch}/sftp-down.bin", "rb").read() == data
    for legacy in ([], ["-O"]):
        name = f"scp{''.join(legacy)}"
        r = subprocess.run(["scp"] + legacy + options + [up, f"{target}:{name}.bin"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["scp"] + legacy + options + [f"{target}:{name}.bin",
                                                         f"{scratch}/{name}-down.bin"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert open(f"{scratch}/{name}-down.bin", "rb").read() == data


def test_make_run_as_the_caller(scratch):
    """As root: an unprivileged uid it announces; as a normal user: that user."""
    run = MakeRun(os.path.join(REPO, "dropbear", "run-local.sh"),
                  dict(os.environ, WS_RUN_DIR=os.path.join(scratch, "run"), WS_BUILD=BUILD), scratch)
    try:
        if os.getuid() == 0:
            assert run.uid is not None, "as root the script must say which uid it uses"
        sessions_see_the_workspace_user(run, scratch)
    finally:
        run.stop()


def test_make_run_as_a_normal_user_without_a_passwd_entry(scratch):
    """The normal-user path (nss_wrapper) for a uid that has no name on the
    machine at all, as in a container started with an arbitrary uid."""
    if os.getuid() != 0:
        pytest.skip("needs root to become a uid without a passwd entry")
    uid = unused_uid(21000)
    top = checkout_copy(scratch)
    os.chown(scratch, uid, uid)
    run = MakeRun(os.path.join(top, "dropbear", "run-local.sh"),
                  dict(os.environ, HOME=scratch, WS_RUN_DIR=os.path.join(scratch, "run"),
                       WS_BUILD=os.path.join(top, "build")), scratch, as_uid=uid)
    try:
        assert "running as root" not in run.text
        sessions_see_the_workspace_user(run, scratch)
    finally:
        run.stop()


@pytest.fixture
def closed_parent():
    """A directory others cannot enter (mode 0700), like /root."""
    d = tempfile.mkdtemp(prefix="ws closed-")  # a blank in the path too
    assert os.stat(d).st_mode & 0o777 == 0o700
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_make_run_from_a_checkout_under_a_closed_directory(closed_parent, scratch):
    """The run directory is the checkout's .run/, unreachable for the
    server's uid but for the private mount namespace the script makes."""
    if os.getuid() != 0:
        pytest.skip("as a normal user the server runs as the owner of the checkout")
    top = checkout_copy(closed_parent)
    env = dict(os.environ)
    for var in ("WS_RUN_DIR", "WS_BUILD"):
        env.pop(var, None)
    run = MakeRun(os.path.join(top, "dropbear", "run-local.sh"), env, scratch)
    try:
        assert run.line[2] == os.path.join(top, ".run", "id_ed25519"), run.line
        sessions_see_the_workspace_user(run, scratch)
    finally:
        run.stop()


def test_integration_tests_from_a_checkout_under_a_closed_directory(closed_parent):
    """The fixtures start the server as an unprivileged uid; it must reach
    the build even when the checkout is not reachable for it."""
    if os.getuid() != 0:
        pytest.skip("as a normal user the server runs as the owner of the checkout")
    top = checkout_copy(closed_parent, tests=("test_server.py",))
    env = dict(os.environ, WS_BUILD=os.path.join(top, "build"))
    env.pop("WS_HOOK_LIB", None)
    r = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-p", "no:cacheprovider", "-q",
                        "-k", "key_login_runs_a_command or pty_session_gets_a_terminal",
                        os.path.join(top, "tests", "integration", "test_server.py")],
                       capture_output=True, text=True, timeout=120, env=env,
                       cwd=closed_parent)
    assert r.returncode == 0 and "2 passed" in r.stdout, r.stdout + r.stderr

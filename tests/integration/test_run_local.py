"""`make run`'s script: starts an unprivileged server and prints an ssh line
that works as printed."""
import os
import re
import selectors
import shlex
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, REPO, free_port, listening, stop_process, wait_for


@pytest.fixture
def run_dir():
    # The server's uid must reach it, so not under pytest's private tmp dir.
    d = tempfile.mkdtemp(prefix="ws-run-local-")
    os.chmod(d, 0o755)
    yield os.path.join(d, "run")
    shutil.rmtree(d, ignore_errors=True)


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


def test_make_run_prints_a_working_ssh_line_and_never_runs_as_root(run_dir):
    port = free_port()
    env = dict(os.environ, WS_PORT=str(port), WS_RUN_DIR=run_dir, WS_BUILD=BUILD)
    env.pop("SUDO_UID", None)
    proc = subprocess.Popen([os.path.join(REPO, "dropbear", "run-local.sh")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        m, text = read_until(proc, r"^\s+(ssh -i .*)$", timeout=30)
        assert m, f"no ssh line printed:\n{text}"
        assert wait_for(lambda: listening(port)), text
        announced = re.search(r"runs as unprivileged uid (\d+)", text)
        if os.getuid() == 0:
            assert announced, "as root the script must say which uid it uses"
        cmd = shlex.split(m.group(1)) + ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                                         "id -u; echo $USER"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        uid, user = r.stdout.split()
        assert user == "developer"
        assert int(uid) != 0
        assert int(uid) == (int(announced.group(1)) if announced else os.getuid())
        status = open(f"/proc/{proc.pid}/status").read()
        real_uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        assert real_uid == int(uid)
    finally:
        stop_process(proc)

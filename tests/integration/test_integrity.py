"""Data integrity of file transfers with the real OpenSSH clients: sftp, scp
over the SFTP protocol (its default) and legacy scp (-O, the server runs
`scp -t`/`scp -f`), uploads and downloads of 0 B, 1 B, 64 KiB and 256 MiB,
each compared by sha256 with what was sent.  Each client uses another AEAD
cipher (the libcrypto backend's, when it is built).

Interrupted transfers: a 256 MiB transfer stopped midway, by killing the
client or the connection's server process, leaves a file that is shorter
than the source and differs from it, and the client that was cut off
reports failure; sftp's reput/reget then resume from where it stopped (the
server's session_exit event shows only the rest crossed the channel) and a
full scp re-run replaces the partial file; the result is byte-identical.

The random payloads are made once per session, when first used.
`make stress` (WS_STRESS=1) adds 1 GiB transfers with every cipher of the
modern profile (AES-CTR with an ETM MAC too) and across rekeys, and
transfers cut and resumed many times."""
import hashlib
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import USER, wait_for

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
SIZES = {"0B": 0, "1B": 1, "64KiB": 64 * KiB, "256MiB": 256 * MiB}
BIG = 256 * MiB
STRESS = os.environ.get("WS_STRESS") == "1"
stress_only = pytest.mark.skipif(not STRESS, reason="make stress (WS_STRESS=1) runs it")

# client -> (program, extra options, cipher)
TOOLS = {
    "sftp": ("sftp", [], "aes128-gcm@openssh.com"),
    "scp": ("scp", [], "chacha20-poly1305@openssh.com"),
    "scp-legacy": ("scp", ["-O"], "aes256-gcm@openssh.com"),
    # what paramiko picks (a separate cipher and MAC), across rekeys: 256 MiB
    # carries 16 of them
    "sftp-ctr": ("sftp", ["-o", "MACs=hmac-sha2-256-etm@openssh.com", "-o", "RekeyLimit=16M"],
                 "aes128-ctr"),
    "scp-ctr": ("scp", ["-o", "MACs=hmac-sha2-512-etm@openssh.com", "-o", "RekeyLimit=16M"],
                "aes256-ctr"),
}
MODERN_CIPHERS = ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com",
                  "aes128-gcm@openssh.com", "aes256-ctr", "aes128-ctr"]
# Kbit/s (-l) for transfers that are to be cut: about 100 MB/s, so that a
# 256 MiB one is still running when the test stops it
THROTTLE = "819200"
TIMEOUT = 300


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def size_of(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


class Payloads:
    """Random files, one per size, made when first asked for: (path, sha256)."""

    def __init__(self, root):
        self.root = root
        self.made = {}

    def get(self, size):
        if size not in self.made:
            path = os.path.join(self.root, f"payload-{size}.bin")
            h = hashlib.sha256()
            start = time.monotonic()
            # seeded from the kernel, never repeating, faster than os.urandom
            rng = random.Random(os.urandom(32))
            with open(path, "wb") as f:
                left = size
                while left:
                    chunk = rng.randbytes(min(left, 16 * MiB))
                    f.write(chunk)
                    h.update(chunk)
                    left -= len(chunk)
            os.chmod(path, 0o644)  # the server's uid reads it, cannot write it
            self.made[size] = (path, h.hexdigest())
            if size >= MiB:
                print(f"\npayload of {size // MiB} MiB made in {time.monotonic() - start:.2f}s")
        return self.made[size]


@pytest.fixture(scope="session")
def payloads(tmp_path_factory):
    root = tmp_path_factory.mktemp("payloads")
    os.chmod(root, 0o755)
    return Payloads(str(root))


@pytest.fixture
def xfer_server(start_server):
    # -e: sessions keep the server's environment, which holds nss_wrapper when
    # the tests do not run as root; sftp-server and scp look the user up
    return start_server(extra_args=["-e"]).wait_ready()


def place_remote(ws, payload, name):
    """The payload as a file in the workspace home (a hard link when it can)."""
    dest = os.path.join(ws.home, name)
    try:
        os.link(payload, dest)
    except OSError:
        with open(payload, "rb") as src, open(dest, "wb") as out:
            while chunk := src.read(4 * MiB):
                out.write(chunk)
        os.chmod(dest, 0o444)
    return dest


def client(server, tool, cipher, extra=()):
    """OpenSSH scp or sftp against server (they spell the port -P)."""
    args = server.ssh_args(options=[f"Ciphers={cipher}"])[:-1]
    args[0] = tool
    args[args.index("-p")] = "-P"
    return args + list(extra)


def sftp_batch(server, ws, cipher, commands, extra=()):
    batch = ws.path(f"batch-{time.monotonic_ns()}")
    with open(batch, "w") as f:
        f.write("\n".join(commands) + "\n")
    return client(server, "sftp", cipher, list(extra) + ["-b", batch]) + [f"{USER}@127.0.0.1"]


def transfer_args(server, ws, tool, direction, local, remote_name, extra=()):
    program, options, cipher = TOOLS[tool]
    if program == "sftp":
        cmd = f"put {local} {remote_name}" if direction == "upload" \
            else f"get {remote_name} {local}"
        return sftp_batch(server, ws, cipher, [cmd], options + list(extra))
    remote = f"{USER}@127.0.0.1:{remote_name}"
    ends = [local, remote] if direction == "upload" else [remote, local]
    return client(server, program, cipher, options + list(extra)) + ends


def run(args, timeout=TIMEOUT):
    r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def last_subsystem_exit(server):
    """The session_exit of the last connection's sftp session (after its disconnect)."""
    sid = [e for e in server.events() if e["event"] == "connect"][-1]["session"]
    server.wait_event("disconnect", session=sid)
    return next(e for e in server.events() if e["event"] == "session_exit"
                and e["session"] == sid and e["kind"] == "subsystem")


def assert_identical(path, size, digest):
    assert size_of(path) == size and os.path.isfile(path)
    assert sha256_file(path) == digest


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("direction", ["upload", "download"])
@pytest.mark.parametrize("tool", TOOLS)
def test_transfer_arrives_byte_identical(xfer_server, workspace, payloads, tool, direction, size):
    payload, digest = payloads.get(size)
    if direction == "upload":
        local, dest = payload, os.path.join(workspace.home, "received.bin")
    else:
        place_remote(workspace, payload, "sent.bin")
        local = dest = workspace.path("received.bin")
    name = "received.bin" if direction == "upload" else "sent.bin"
    status, out = run(transfer_args(xfer_server, workspace, tool, direction, local, name))
    assert status == 0, out
    assert_identical(dest, size, digest)


# --- interrupted transfers ---

def start_throttled(args):
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def cut(proc, partial_path, total, kill, at=0.25):
    """Waits until partial_path holds at least `at` of total, then calls
    kill(); returns the client's exit status and the partial file's size."""
    grown = wait_for(lambda: size_of(partial_path) >= total * at or proc.poll() is not None,
                     timeout=120)
    assert grown and proc.poll() is None, "the transfer ended before it could be cut"
    kill()
    try:
        status = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return status, settled_size(partial_path)


def settled_size(path):
    """The file's size once nothing has written to it for 0.5 s: on the
    server's side sftp-server or scp may still write what reached it."""
    last = [None, time.monotonic()]

    def settled():
        size = size_of(path)
        if size != last[0]:
            last[:] = [size, time.monotonic()]
        return time.monotonic() - last[1] >= 0.5
    assert wait_for(settled, timeout=30), f"{path} still grows"
    return last[0]


def kill_client(proc):
    return lambda: os.killpg(proc.pid, signal.SIGKILL)  # sftp and its ssh


def kill_connection(server):
    """Kills the connection's server process (the pid in its connect event)."""
    pid = server.wait_event("connect")["pid"]
    return lambda: os.kill(pid, signal.SIGKILL)


def assert_partial(path, total, digest):
    """What an interrupted transfer left is visibly incomplete."""
    size = size_of(path)
    assert size < total, "the cut transfer left a file as long as the source"
    if os.path.exists(path):
        assert sha256_file(path) != digest


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_sftp_cut_by_the_client_resumes(xfer_server, workspace, payloads, direction):
    """Cut by killing the client, then resumed with reput (upload) or reget
    (download): the file arrives whole and only the rest was sent."""
    payload, digest = payloads.get(BIG)
    if direction == "upload":
        dest = os.path.join(workspace.home, "big.bin")
        first, resume, counter = f"put {payload} big.bin", f"reput {payload} big.bin", "bytes_in"
    else:
        place_remote(workspace, payload, "big.bin")
        dest = workspace.path("big.bin")
        first, resume, counter = f"get big.bin {dest}", f"reget big.bin {dest}", "bytes_out"
    cipher = TOOLS["sftp"][2]
    proc = start_throttled(sftp_batch(xfer_server, workspace, cipher, [first], ["-l", THROTTLE]))
    status, partial = cut(proc, dest, BIG, kill_client(proc))
    assert status != 0
    assert 0 < partial < BIG
    assert_partial(dest, BIG, digest)
    status, out = run(sftp_batch(xfer_server, workspace, cipher, [resume]))
    assert status == 0, out
    assert_identical(dest, BIG, digest)
    # resumed, not sent again: the channel carried the rest (and sftp framing)
    sent = last_subsystem_exit(xfer_server)[counter]
    assert BIG - partial <= sent < BIG - partial + BIG // 100, (partial, sent)


@pytest.mark.parametrize("tool", ["scp", "scp-legacy"])
def test_scp_upload_cut_by_the_server_then_run_again(xfer_server, workspace, payloads, tool):
    payload, digest = payloads.get(BIG)
    remote = os.path.join(workspace.home, "big.bin")
    proc = start_throttled(transfer_args(xfer_server, workspace, tool, "upload", payload,
                                         "big.bin", ["-l", THROTTLE]))
    status, partial = cut(proc, remote, BIG, kill_connection(xfer_server))
    assert status != 0, "scp reported success for a transfer cut off midway"
    assert partial < BIG
    assert_partial(remote, BIG, digest)
    status, out = run(transfer_args(xfer_server, workspace, tool, "upload", payload, "big.bin"))
    assert status == 0, out
    assert_identical(remote, BIG, digest)


@pytest.mark.parametrize("tool", ["scp", "scp-legacy"])
def test_scp_download_cut_by_the_server_then_run_again(xfer_server, workspace, payloads, tool):
    payload, digest = payloads.get(BIG)
    place_remote(workspace, payload, "big.bin")
    local = workspace.path("big.bin")
    proc = start_throttled(transfer_args(xfer_server, workspace, tool, "download", local,
                                         "big.bin", ["-l", THROTTLE]))
    status, partial = cut(proc, local, BIG, kill_connection(xfer_server))
    assert status != 0, "scp reported success for a transfer cut off midway"
    assert_partial(local, BIG, digest)
    status, out = run(transfer_args(xfer_server, workspace, tool, "download", local, "big.bin"))
    assert status == 0, out
    assert_identical(local, BIG, digest)


# --- make stress (WS_STRESS=1) ---

@pytest.mark.stress
@stress_only
@pytest.mark.parametrize("direction", ["upload", "download"])
@pytest.mark.parametrize("cipher", MODERN_CIPHERS)
def test_stress_1gib_sftp_every_cipher_across_rekeys(xfer_server, workspace, payloads, cipher,
                                                     direction):
    payload, digest = payloads.get(GiB)
    if direction == "upload":
        cmd, dest = f"put {payload} big.bin", os.path.join(workspace.home, "big.bin")
    else:
        place_remote(workspace, payload, "big.bin")
        dest = workspace.path("received.bin")
        cmd = f"get big.bin {dest}"
    status, out = run(sftp_batch(xfer_server, workspace, cipher, [cmd],
                                 ["-o", "RekeyLimit=64M"]), timeout=900)
    assert status == 0, out
    assert_identical(dest, GiB, digest)


@pytest.mark.stress
@stress_only
@pytest.mark.parametrize("direction", ["upload", "download"])
def test_stress_sftp_cut_many_times_then_resumed(xfer_server, workspace, payloads, direction):
    """A 1 GiB transfer cut 6 times (client killed), each time resumed."""
    payload, digest = payloads.get(GiB)
    cipher = TOOLS["sftp"][2]
    if direction == "upload":
        path, cmd = os.path.join(workspace.home, "big.bin"), f"put {payload} big.bin"
        resume = f"reput {payload} big.bin"
    else:
        place_remote(workspace, payload, "big.bin")
        path = workspace.path("big.bin")
        cmd, resume = f"get big.bin {path}", f"reget big.bin {path}"
    for n, at in enumerate((0.1, 0.25, 0.4, 0.55, 0.7, 0.85)):
        proc = start_throttled(sftp_batch(xfer_server, workspace, cipher,
                                          [cmd if n == 0 else resume], ["-l", THROTTLE]))
        status, partial = cut(proc, path, GiB, kill_client(proc), at=at)
        assert status != 0 and partial < GiB
        assert_partial(path, GiB, digest)
    status, out = run(sftp_batch(xfer_server, workspace, cipher, [resume]), timeout=900)
    assert status == 0, out
    assert_identical(path, GiB, digest)

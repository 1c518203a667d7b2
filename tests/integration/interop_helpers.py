"""Drivers for the SSH clients of the interop matrix (test_interop.py): each
turns one feature (exec, pty shell, sftp, scp, local forward, agent) into
that client's own way of doing it, against a conftest Server.

Every driver returns a Result(status, out) where status is the remote exit
status the client reports and out is what the remote side printed (str)."""
import collections
import contextlib
import hashlib
import os
import socket
import subprocess
import threading

from conftest import BUILD, REPO, USER, listening, wait_for
from interop_clients import recv_until

PY = "/usr/bin/python3"
NODE_DIR = os.path.join(REPO, "tests", "node")
Result = collections.namedtuple("Result", "status out")
TIMEOUT = 60


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def random_file(path, size=1024 * 1024 + 123):
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    return sha256_file(path)


def run_in_pty(args, typed, env=None, timeout=TIMEOUT):
    """Runs a client on a terminal (dbclient -t needs one to send its modes),
    types `typed` and collects everything it prints until it exits."""
    import pty
    import select
    import termios
    import time
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, env=env, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    # Type only once the client has put the terminal in raw mode: it sets
    # the mode with TCSAFLUSH, which throws away anything typed before.
    wait_for(lambda: not termios.tcgetattr(master)[3] & termios.ICANON or proc.poll() is not None,
             timeout)
    os.write(master, typed.encode())
    data, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the client closed the terminal
                    break
                if not chunk:
                    break
                data += chunk
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        # the terminal closes (EIO) a moment before the client exits
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return Result(proc.wait(), data.decode(errors="replace"))


def run(args, env=None, input=None, timeout=TIMEOUT):
    r = subprocess.run(args, capture_output=True, timeout=timeout, env=env,
                       input=input if input is not None else b"",
                       )
    return Result(r.returncode, (r.stdout + r.stderr).decode(errors="replace"))


def serve_upper(srv):
    """Answers each connection to the listening socket srv, on a thread of
    its own until srv is closed, with its first line upper-cased."""
    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(recv_until(conn.recv, b"\n").upper())
    threading.Thread(target=serve, daemon=True).start()


@contextlib.contextmanager
def echo_server():
    """A TCP server on 127.0.0.1 that echoes one line back upper-cased:
    the target of every local-forward test."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(TIMEOUT)
    serve_upper(srv)
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def through_forward(local_port, payload=b"ping through the tunnel\n"):
    """Sends payload to a forwarded local port once the client listens on
    it; returns what came back (None if the server refused the channel)."""
    if not wait_for(lambda: listening(local_port), timeout=20):
        return None
    try:
        with socket.create_connection(("127.0.0.1", local_port), timeout=10) as s:
            s.sendall(payload)
            return recv_until(s.recv, b"\n") or None
    except OSError:
        return None


@contextlib.contextmanager
def ssh_agent(ws, key):
    """A real ssh-agent holding key; yields its environment."""
    sock = ws.path("agent.sock")
    out = subprocess.run(["ssh-agent", "-a", sock], capture_output=True, text=True,
                         check=True).stdout
    pid = int(out.split("SSH_AGENT_PID=")[1].split(";")[0])
    env = dict(os.environ, SSH_AUTH_SOCK=sock)
    try:
        subprocess.run(["ssh-add", "-q", key], env=env, check=True, capture_output=True)
        yield env
    finally:
        os.kill(pid, 15)


def key_fingerprint(pubkey_path):
    return subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", pubkey_path],
                          capture_output=True, text=True, check=True).stdout.split()[1]


# --- PuTTY ---

def putty_key(ws):
    ppk = ws.path("id_ed25519.ppk")
    if not os.path.exists(ppk):
        subprocess.run(["puttygen", ws.key, "-O", "private", "-o", ppk], check=True,
                       capture_output=True)
    return ppk


def putty_args(server, tool):
    hostkey = key_fingerprint_of_line(server.ws.hostpub, server.ws.path("hostkey.pub"))
    port_flag = "-P" if tool in ("plink", "pscp", "psftp") else "-p"
    return [tool, "-batch", port_flag, str(server.port), "-i", putty_key(server.ws),
            "-hostkey", hostkey]


def key_fingerprint_of_line(line, path):
    with open(path, "w") as f:
        f.write(line + "\n")
    return key_fingerprint(path)


# --- dbclient (Debian's dropbear-bin) ---

def dbclient_key(ws):
    """dbclient reads its own key format: made with dropbearkey, authorized."""
    key = ws.path("id_dropbear")
    if not os.path.exists(key):
        out = subprocess.run([os.path.join(BUILD, "bin", "dropbearkey"), "-t", "ed25519",
                              "-f", key], check=True, capture_output=True, text=True).stdout
        with open(key + ".pub", "w") as f:
            f.write(next(line for line in out.splitlines() if line.startswith("ssh-")) + "\n")
        ws.authorize(key + ".pub")
    return key


def dbclient_env(ws):
    """dbclient keeps known_hosts under $HOME/.ssh: a private HOME holding
    the server's real host key, so the key is checked, not blindly taken."""
    home = ws.path("dbclient-home")
    os.makedirs(os.path.join(home, ".ssh"), exist_ok=True)
    return dict(os.environ, HOME=home)


def dbclient_args(server, extra=()):
    env = dbclient_env(server.ws)
    kh = os.path.join(env["HOME"], ".ssh", "known_hosts")
    with open(kh, "w") as f:
        # 2022.83 keys entries by host alone and chokes on a trailing comment
        f.write("127.0.0.1 " + " ".join(server.ws.hostpub.split()[:2]) + "\n")
    return ["dbclient", "-p", str(server.port), "-i", dbclient_key(server.ws)] + list(extra) + \
        [f"{USER}@127.0.0.1"], env


# --- python and node clients: one small script each, run as a subprocess so
# that a hung client is bounded by TIMEOUT like every other ---

PY_CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "interop_clients.py")
NODE_CLIENT = os.path.join(NODE_DIR, "client.js")


def script_client(kind, server, action, **kw):
    """Runs interop_clients.py (paramiko/asyncssh) or client.js (ssh2)."""
    import json
    agent_env = kw.pop("agent_env", None)
    spec = dict(action=action, port=server.port, user=USER, key=server.ws.key,
                hostkey=server.ws.hostpub, **kw)
    if kind == "ssh2":
        args = ["node", NODE_CLIENT, json.dumps(spec)]
        env = dict(os.environ, NODE_PATH=os.path.join(NODE_DIR, "node_modules"))
    else:
        args = [PY, "-W", "ignore", PY_CLIENTS, kind, json.dumps(spec)]
        env = dict(os.environ)
    if agent_env:
        env["SSH_AUTH_SOCK"] = agent_env["SSH_AUTH_SOCK"]
    return run(args, env=env)


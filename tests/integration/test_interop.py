"""The interop matrix: real clients against the built server, each against
the strictest crypto profile it can speak, one test per (client, feature).
Cells a client cannot do are in GAPS with the reason (tests/README.md has
the same table)."""
import os
import subprocess

import pytest

from conftest import BUILD, USER, keygen
from interop_helpers import (Result, dbclient_args, echo_server, putty_args, random_file,
                             run, run_in_pty, script_client, sha256_file, ssh_agent,
                             key_fingerprint, through_forward)
from conftest import free_port

# client -> the strictest profile it negotiates (Debian 12 versions)
PROFILE = {
    "openssh": "pq-only",   # 9.2 (Debian): sntrup761x25519-sha512, chacha20/GCM
    "dbclient": "modern",   # 2022.83: curve25519, chacha20 (no PQ kex)
    "putty": "pq-only",     # 0.78: sntrup761x25519-sha512@openssh.com, chacha20/GCM
    "paramiko": "modern",   # 2.12: curve25519, aes-ctr + hmac-sha2-*-etm (no AEAD)
    "asyncssh": "modern",   # 2.10: curve25519 (PQ needs liboqs), chacha20/GCM
    "ssh2": "modern",       # 1.16: curve25519, chacha20/GCM
}
FEATURES = ["exec", "pty", "sftp", "scp", "forward", "agent"]
GAPS = {
    ("dbclient", "sftp"): "dbclient has no sftp client",
    ("paramiko", "scp"): "paramiko has no scp (only sftp)",
    ("ssh2", "scp"): "ssh2 has no scp (only sftp)",
}
CELLS = [(c, f) for c in PROFILE for f in FEATURES if (c, f) not in GAPS]


@pytest.fixture
def matrix_server(start_server, request):
    client = request.node.callspec.params["cell"][0]
    # -e: sessions keep the server's environment, which holds nss_wrapper; the
    # workspace user exists only there, and sftp-server and scp look it up
    # (in the image it has a real passwd entry)
    return start_server(extra_args=[f"--crypto-profile={PROFILE[client]}", "-e"]).wait_ready()


def openssh_args(server, tool="ssh", options=()):
    """ssh_args for ssh, scp or sftp (which spell the port -P)."""
    args = server.ssh_args(options=options)[:-1]
    args[0] = tool
    if tool != "ssh":
        args[args.index("-p")] = "-P"
    return args


# --- one function per (client, feature): each returns a Result ---

def do_exec(client, server, ws):
    cmd = "echo hello from $USER; exit 3"
    if client == "openssh":
        return run(openssh_args(server) + [f"{USER}@127.0.0.1", cmd])
    if client == "dbclient":
        args, env = dbclient_args(server)
        return run(args + [cmd], env=env)
    if client == "putty":
        return run(putty_args(server, "plink") + ["-noagent", f"{USER}@127.0.0.1", cmd])
    return script_client(client, server, "exec", command=cmd)


def do_pty(client, server, ws):
    typed = "tty; exit 5\n"
    if client == "openssh":
        return run(openssh_args(server) + ["-tt", f"{USER}@127.0.0.1"], input=typed.encode())
    if client == "dbclient":
        args, env = dbclient_args(server, ["-t"])
        return run_in_pty(args, typed, env=env)
    if client == "putty":
        return run(putty_args(server, "plink") + ["-noagent", "-t", f"{USER}@127.0.0.1"],
                   input=typed.encode())
    return script_client(client, server, "pty", input=typed)


def transfer(client, server, ws, feature, local, back):
    remote = "upload.bin"
    if client == "openssh" and feature == "sftp":
        batch = ws.path("batch")
        with open(batch, "w") as f:
            f.write(f"put {local} {remote}\nget {remote} {back}\n")
        return run(openssh_args(server, "sftp") + ["-b", batch, f"{USER}@127.0.0.1"])
    if client == "openssh":  # scp, in its legacy protocol (-O): sftp mode is the sftp cell
        up = run(openssh_args(server, "scp") + ["-O", local, f"{USER}@127.0.0.1:{remote}"])
        return up if up.status else run(openssh_args(server, "scp") +
                                        ["-O", f"{USER}@127.0.0.1:{remote}", back])
    if client == "dbclient":  # our build's scp (Dropbear's), over dbclient
        args, env = dbclient_args(server)
        scp = [os.path.join(BUILD, "bin", "scp"), "-S", "dbclient", "-P", str(server.port),
               "-i", args[args.index("-i") + 1]]
        up = run(scp + [local, f"{USER}@127.0.0.1:{remote}"], env=env)
        return up if up.status else run(scp + [f"{USER}@127.0.0.1:{remote}", back], env=env)
    if client == "putty" and feature == "sftp":
        batch = ws.path("batch")
        with open(batch, "w") as f:
            f.write(f"put {local} {remote}\nget {remote} {back}\n")
        return run(putty_args(server, "psftp") + ["-noagent", "-b", batch, f"{USER}@127.0.0.1"])
    if client == "putty":
        pscp = putty_args(server, "pscp") + ["-noagent", "-scp"]
        up = run(pscp + [local, f"{USER}@127.0.0.1:{remote}"])
        return up if up.status else run(pscp + [f"{USER}@127.0.0.1:{remote}", back])
    return script_client(client, server, feature, local=local, remote=remote, local_back=back)


def do_forward(client, server, ws, dest_port):
    payload = "ping through the tunnel\n"
    if client in ("paramiko", "asyncssh", "ssh2"):
        return script_client(client, server, "forward", dest_port=dest_port, payload=payload)
    lport = free_port()
    spec = f"{lport}:127.0.0.1:{dest_port}"
    if client == "openssh":
        args, env = openssh_args(server) + ["-N", "-L", spec, f"{USER}@127.0.0.1"], None
    elif client == "dbclient":
        args, env = dbclient_args(server, ["-N", "-L", spec])
    else:
        args, env = putty_args(server, "plink") + ["-noagent", "-N", "-L", spec,
                                                   f"{USER}@127.0.0.1"], None
    proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        reply = through_forward(lport, payload.encode())
    finally:
        proc.kill()
        err = proc.communicate()[1].decode(errors="replace")
    return Result(0 if reply else 1, (reply or b"").decode() + err)


def do_agent(client, server, ws, agent_env):
    cmd = "ssh-add -l"
    if client == "openssh":
        # IdentityAgent=none (conftest's default) would also stop forwarding
        args = openssh_args(server, options=["ForwardAgent=yes"])
        args[args.index("IdentityAgent=none")] = f"IdentityAgent={agent_env['SSH_AUTH_SOCK']}"
        return run(args + [f"{USER}@127.0.0.1", cmd])
    if client == "dbclient":
        args, env = dbclient_args(server, ["-A"])
        env["SSH_AUTH_SOCK"] = agent_env["SSH_AUTH_SOCK"]
        return run(args + [cmd], env=env)
    if client == "putty":
        return run(putty_args(server, "plink") + ["-A", f"{USER}@127.0.0.1", cmd], env=agent_env)
    return script_client(client, server, "agent", command=cmd, agent_env=agent_env)


@pytest.mark.parametrize("cell", CELLS, ids=[f"{c}-{f}" for c, f in CELLS])
def test_interop(cell, matrix_server, workspace):
    client, feature = cell
    server, ws = matrix_server, workspace
    if feature == "exec":
        r = do_exec(client, server, ws)
        assert r.status == 3, r.out
        assert f"hello from {USER}" in r.out
    elif feature == "pty":
        r = do_pty(client, server, ws)
        assert r.status == 5, r.out
        assert "/dev/pts/" in r.out, r.out
    elif feature in ("sftp", "scp"):
        local, back = ws.path("local.bin"), ws.path("back.bin")
        digest = random_file(local)
        r = transfer(client, server, ws, feature, local, back)
        assert r.status == 0, r.out
        remote = server.ssh("sha256sum upload.bin")
        assert remote.stdout.split()[0] == digest, remote
        assert sha256_file(back) == digest
    elif feature == "forward":
        with echo_server() as dest_port:
            r = do_forward(client, server, ws, dest_port)
        assert r.status == 0, r.out
        assert "PING THROUGH THE TUNNEL" in r.out, r.out
    elif feature == "agent":
        agent_key = keygen(ws.path("agent_key"))
        with ssh_agent(ws, agent_key) as env:
            r = do_agent(client, server, ws, env)
        assert r.status == 0, r.out
        assert key_fingerprint(agent_key + ".pub") in r.out, r.out

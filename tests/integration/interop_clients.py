"""The python SSH clients of the interop matrix, one action per run:
    interop_clients.py paramiko|asyncssh '{"action": ..., "port": ..., ...}'
Prints what the remote side printed and exits with the remote exit status
(or 90+ for a client-side failure), so test_interop.py treats it like any
command-line client.  Host keys are checked against the server's real key."""
import asyncio
import base64
import json
import os
import socket
import sys


def recv_until(recv, end=None):
    """Calls recv(n) until EOF, or until the data ends with `end`."""
    data = b""
    while end is None or not data.endswith(end):
        chunk = recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


# --- paramiko ---

def paramiko_main(spec):
    import paramiko
    import paramiko.agent

    keytype, keydata = spec["hostkey"].split()[:2]
    client = paramiko.SSHClient()
    client.get_host_keys().add(f"[127.0.0.1]:{spec['port']}", keytype,
                               paramiko.PKey.from_type_string(keytype, base64.b64decode(keydata))
                               if hasattr(paramiko.PKey, "from_type_string")
                               else paramiko.Ed25519Key(data=base64.b64decode(keydata)))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    # "ciphers"/"macs" narrow paramiko's own preference lists to the ones named
    disabled = {kind: [a for a in getattr(paramiko.Transport, f"_preferred_{kind}")
                       if a not in spec[kind]]
                for kind in ("ciphers", "macs") if kind in spec}
    client.connect("127.0.0.1", spec["port"], username=spec["user"], key_filename=spec["key"],
                   allow_agent=False, look_for_keys=False, timeout=30,
                   disabled_algorithms=disabled)
    action = spec["action"]
    t = client.get_transport()
    if action == "exec":
        _, stdout, _ = client.exec_command(spec["command"])
        out(stdout.read().decode())
        return stdout.channel.recv_exit_status()
    if action == "pty":
        chan = t.open_session()
        chan.get_pty(term="xterm")
        chan.invoke_shell()
        chan.sendall(spec["input"].encode())
        out(recv_until(chan.recv).decode(errors="replace"))
        return chan.recv_exit_status()
    if action == "sftp":
        sftp = client.open_sftp()
        sftp.put(spec["local"], spec["remote"])
        sftp.get(spec["remote"], spec["local_back"])
        return 0
    if action == "rekey_transfer":
        return paramiko_rekey_transfer(t, spec)
    if action == "forward":
        chan = t.open_channel("direct-tcpip", ("127.0.0.1", spec["dest_port"]), ("127.0.0.1", 0))
        chan.sendall(spec["payload"].encode())
        out(recv_until(chan.recv, b"\n").decode())
        return 0
    if action == "agent":
        chan = t.open_session()
        paramiko.agent.AgentRequestHandler(chan)
        chan.exec_command(spec["command"])
        out(recv_until(chan.recv).decode())
        return chan.recv_exit_status()
    return 91


def paramiko_rekey_transfer(t, spec):
    """Uploads spec["local"] to `cat > remote` and downloads it back to
    spec["local_back"] with `cat remote`, asking for a new key exchange
    after every MiB either way; prints the algorithms used and the count."""
    mib, rekeys = 1024 * 1024, 0
    chan = t.open_session()
    chan.exec_command(f"cat > {spec['remote']}")
    with open(spec["local"], "rb") as f:
        while data := f.read(mib):
            chan.sendall(data)
            t.renegotiate_keys()
            rekeys += 1
    chan.shutdown_write()
    status = chan.recv_exit_status()
    if status != 0:
        return status
    chan = t.open_session()
    chan.exec_command(f"cat {spec['remote']}")
    # not in the last 2 MiB: paramiko 2.12 stalls (against any server) in a
    # key exchange it started when the server's close of the channel
    # arrives meanwhile
    since, left = 0, os.path.getsize(spec["local"])
    with open(spec["local_back"], "wb") as f:
        while data := chan.recv(65536):
            f.write(data)
            since, left = since + len(data), left - len(data)
            if since >= mib and left > 2 * mib:
                t.renegotiate_keys()
                rekeys, since = rekeys + 1, 0
    out(f"out {t.local_cipher} {t.local_mac} in {t.remote_cipher} {t.remote_mac} "
        f"rekeys {rekeys}\n")
    return chan.recv_exit_status()


# --- asyncssh ---

async def asyncssh_main(spec):
    import asyncssh

    known = asyncssh.import_known_hosts(f"[127.0.0.1]:{spec['port']} {spec['hostkey']}\n")
    action = spec["action"]
    # the agent comes from SSH_AUTH_SOCK only when it is to be forwarded
    agent = {"agent_forwarding": True} if action == "agent" else {"agent_path": None}
    async with asyncssh.connect("127.0.0.1", spec["port"], username=spec["user"],
                                client_keys=[spec["key"]], known_hosts=known,
                                **agent) as conn:
        if action in ("exec", "agent"):
            r = await conn.run(spec["command"])
            out(r.stdout)
            return r.exit_status
        if action == "pty":
            r = await conn.run(input=spec["input"], term_type="xterm")
            out(r.stdout)
            return r.exit_status
        if action == "sftp":
            async with conn.start_sftp_client() as sftp:
                await sftp.put(spec["local"], spec["remote"])
                await sftp.get(spec["remote"], spec["local_back"])
            return 0
        if action == "scp":
            await asyncssh.scp(spec["local"], (conn, spec["remote"]))
            await asyncssh.scp((conn, spec["remote"]), spec["local_back"])
            return 0
        if action == "forward":
            reader, writer = await conn.open_connection("127.0.0.1", spec["dest_port"])
            writer.write(spec["payload"].encode())
            out((await reader.readline()).decode())
            writer.close()
            return 0
    return 91


def main():
    kind, spec = sys.argv[1], json.loads(sys.argv[2])
    socket.setdefaulttimeout(60)
    if kind == "paramiko":
        return paramiko_main(spec)
    return asyncio.run(asyncssh_main(spec))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a client-side failure, reported as such
        sys.stderr.write(f"{type(e).__name__}: {e}\n")
        sys.exit(90)

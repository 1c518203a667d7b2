#!/usr/bin/python3
"""Bulk throughput per cipher: one or more builds of our server and Debian's
OpenSSH sshd, measured in one run with the same OpenSSH client, so the
ratios hold even on a shared machine.  Used for docs/benchmarks-throughput.md.

    tests/bench/cipher_throughput.py [--mib N] [--rounds R] [--cipher C ...]
                                     [--mac M] [NAME=/path/to/dropbear ...]

Without NAME=PATH arguments it measures this tree's build (WS_BUILD).  The
servers run on CPU 0, the clients on CPU 1 (when there are two), so the
figure is one server core against one client core.  --mac makes every
server use that MAC with the non-AEAD ciphers (without it OpenSSH's sshd
gets the client's first choice, umac-64-etm, which we do not offer).
Rounds interleave the servers, and the best round per server is printed: noise from other work on
the machine only ever slows a round down.  Not a test: nothing fails on a
number.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import conftest  # noqa: E402
from conftest import DROPBEAR, Server, Workspace, free_port, nss_wrapper  # noqa: E402

SSHD = "/usr/sbin/sshd"
CIPHERS = ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com",
           "aes256-gcm@openssh.com", "aes128-ctr"]
TWO_CPUS = (os.cpu_count() or 1) >= 2
SERVER_CPU = ["taskset", "-c", "0"] if TWO_CPUS else []
CLIENT_CPU = ["taskset", "-c", "1"] if TWO_CPUS else []


class Sshd:
    """Debian's sshd, unprivileged on a free port, trusting the same client
    key; borrows Server's client arguments, readiness check and stop."""
    ssh_args, wait_ready, stop, output = Server.ssh_args, Server.wait_ready, Server.stop, Server.output

    def __init__(self, ws):
        self.ws, self.port = ws, free_port()
        key = ws.path("server", "sshd_host_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        ws.chown(key, key + ".pub")
        config = ws.path("server", "sshd_config")
        with open(config, "w") as f:
            f.write(f"HostKey {key}\nPidFile none\nAuthorizedKeysFile {ws.home}/.ssh/authorized_keys\n"
                    "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n")
        with open(key + ".pub") as f:
            pub = " ".join(f.read().split()[:2])
        self.known_hosts = ws.path(f"known_hosts-{self.port}")
        with open(self.known_hosts, "w") as f:
            f.write(f"[127.0.0.1]:{self.port} {pub}\n")
        argv = [SSHD, "-D", "-e", "-f", config, "-o", "ListenAddress=127.0.0.1", "-p", str(self.port)]
        if os.getuid() == 0:
            argv = ["setpriv", f"--reuid={ws.uid}", f"--regid={ws.gid}", "--clear-groups",
                    "--inh-caps=-all", "--"] + argv
        env = dict(os.environ, LD_PRELOAD=nss_wrapper(), NSS_WRAPPER_PASSWD=ws.path("passwd"),
                   NSS_WRAPPER_GROUP=ws.path("group"))
        self.log_path = ws.path(f"sshd-{self.port}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(SERVER_CPU + argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)


def start_dropbear(ws, path):
    """Server() runs conftest.DROPBEAR; point it at another build meanwhile."""
    saved, conftest.DROPBEAR = conftest.DROPBEAR, path
    try:
        s = Server(ws)
    finally:
        conftest.DROPBEAR = saved
    if TWO_CPUS:  # connection processes inherit the listener's affinity
        subprocess.run(["taskset", "-pc", "0", str(s.proc.pid)], check=True, capture_output=True)
    return s


def transfer(server, cipher, mib, direction, mac=None):
    ssh = CLIENT_CPU + server.ssh_args(options=[f"Ciphers={cipher}"] + ([f"MACs={mac}"] if mac else []))
    if direction == "upload":
        cmd = f"head -c {mib}M /dev/zero | {' '.join(ssh)} 'cat > /dev/null'"
    else:
        cmd = f"{' '.join(ssh)} 'head -c {mib}M /dev/zero' > /dev/null"
    t0 = time.perf_counter()
    r = subprocess.run(["sh", "-c", cmd], stderr=subprocess.PIPE, timeout=600)
    secs = time.perf_counter() - t0
    return mib / secs if r.returncode == 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cipher", action="append")
    ap.add_argument("--mac", help="the MAC for the non-AEAD ciphers, on every server")
    ap.add_argument("--direction", choices=["upload", "download", "both"], default="both")
    ap.add_argument("servers", nargs="*", help="NAME=PATH of a dropbear binary")
    args = ap.parse_args()
    ciphers = args.cipher or CIPHERS
    dirs = ["upload", "download"] if args.direction == "both" else [args.direction]
    builds = [s.split("=", 1) for s in args.servers] or [["ours", DROPBEAR]]

    ws = Workspace()
    servers = {}
    try:
        for name, path in builds:
            servers[name] = start_dropbear(ws, path)
        servers["openssh"] = Sshd(ws)
        for s in servers.values():
            s.wait_ready()
        best = {}
        for _ in range(args.rounds):
            for cipher in ciphers:
                for d in dirs:
                    for name, s in servers.items():
                        v = transfer(s, cipher, args.mib, d, args.mac)
                        key = (cipher, d, name)
                        if v is not None and v > best.get(key, 0):
                            best[key] = v
                        elif v is None:
                            best.setdefault(key, None)
    finally:
        for s in servers.values():
            s.stop()
        ws.cleanup()

    names = list(servers)
    print(f"MiB/s, best of {args.rounds} rounds of {args.mib} MiB; ratio = name/openssh"
          + (f"; MAC {args.mac}" if args.mac else ""))
    print(f"{'cipher':32} {'dir':8} " + " ".join(f"{n:>10}" for n in names) + "  ratios")
    for cipher in ciphers:
        for d in dirs:
            vals = [best.get((cipher, d, n)) for n in names]
            o = best.get((cipher, d, "openssh"))
            ratios = " ".join(f"{n}={v / o:.2f}" for n, v in zip(names, vals)
                              if v and o and n != "openssh")
            print(f"{cipher:32} {d:8} " + " ".join(f"{v:10.0f}" if v else f"{'-':>10}" for v in vals)
                  + "  " + ratios)


if __name__ == "__main__":
    main()

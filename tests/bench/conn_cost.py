#!/usr/bin/python3
"""Where one idle authenticated connection's memory goes, per mapping, for
each server variant: ours with and without the hook library, ours built
--with-libcrypto-ciphers=no (BUILD/nolc, see docs/benchmarks-memory.md),
upstream Dropbear (make upstream) and Debian's sshd.

    tests/bench/conn_cost.py [--conns N] [--timing N] [--only NAME,...] [--smaps-dir DIR]
                             [--ssh-option OPT ...]

Each server runs alone, as bench.py starts it; N idle connections
(`ssh -f -N`, default 10) are opened one at a time, then each connection
process's /proc/PID/smaps is summed per mapped file.  Pss depends on how
many processes share a page, Private_Dirty does not: it is what each further
connection costs at the least.  --ssh-option passes -o OPT to every client
(e.g. Ciphers=aes128-ctr: what a connection on that cipher costs).  A
measurement, not a test.
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from bench import UPSTREAM, Peer, sshd_peer  # noqa: E402
from conftest import BUILD, DROPBEAR, HOOK_LIB, Workspace, free_port, wait_for  # noqa: E402

NOLC = os.path.join(BUILD, "nolc")
FIELDS = ("Pss", "Private_Dirty", "Private_Clean", "Rss")


def variants(ws):
    listen = ["-F", "-E", "-p", "127.0.0.1:{PORT}", "-r", ws.hostkey]
    nolc_db = os.path.join(NOLC, "bin", "dropbear")
    nolc_hook = os.path.join(NOLC, "lib", "ssh-workspace-hooks.so")
    out = [("ours+hook", [DROPBEAR] + listen + [f"--hook={HOOK_LIB}"]),
           ("ours", [DROPBEAR] + listen)]
    if os.path.exists(nolc_db):
        out += [("nolc+hook", [nolc_db] + listen + [f"--hook={nolc_hook}"]),
                ("nolc", [nolc_db] + listen)]
    out.append(("upstream", [UPSTREAM] + listen))
    return [(name, lambda argv=argv, name=name: Peer(ws, name, argv, ws.hostpub)) for name, argv in out]


def mappings(pid):
    """Each mapping in /proc/PID/smaps: the words of its first line and the
    FIELDS it lists ({field: KiB})."""
    head, fields = None, {}
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            words = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                if head is not None:
                    yield head, fields
                head, fields = words, {}
            elif head is not None and words and words[0].rstrip(":") in FIELDS:
                fields[words[0].rstrip(":")] = int(words[1])
    if head is not None:
        yield head, fields


def smaps(pid):
    """{mapping name: {field: KiB}} of one process; anonymous mappings are
    "[anon]", a file's mappings (text, rodata, relro, data) are summed."""
    out = {}
    for head, fields in mappings(pid):
        name = head[5] if len(head) > 5 else "[anon]"
        name = os.path.basename(name) if name.startswith("/") else name
        sums = out.setdefault(name, dict.fromkeys(FIELDS, 0))
        for k, v in fields.items():
            sums[k] += v
    return out


def smaps_by_section(pid, wanted):
    """Per mapping (perms, offset) of the files in `wanted`: which part of a
    library (text, relro, .data/.bss) holds the dirty pages."""
    rows = []
    for head, fields in mappings(pid):
        path = head[5] if len(head) > 5 else ""
        if os.path.basename(path) in wanted:
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            rows.append(dict({"file": os.path.basename(path), "perms": head[1], "offset": head[2],
                              "size": (hi - lo) // 1024}, **fields))
    return rows


def total(maps):
    return {k: sum(m[k] for m in maps.values()) for k in FIELDS}


def measure(peer, conns, smaps_dir, options=()):
    """Opens `conns` idle connections; the per-mapping sum over the
    processes of the last connection, and the totals of every process."""
    before = set(peer.pids())
    base = peer.pss_kib()
    tag = f"ServerAliveCountMax={4000 + free_port() % 1000}"
    per_conn = []  # the pids each connection added
    try:
        for _ in range(conns):
            seen = set(peer.pids())
            r = subprocess.run(peer.ssh("-f", "-N", options=[tag] + list(options)), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
            if r.returncode != 0:
                sys.exit(f"{peer.name}: login failed: {r.stderr.decode()}")
            time.sleep(0.3)
            per_conn.append(sorted(set(peer.pids()) - seen))
        time.sleep(1)
        last = per_conn[-1]
        maps = {}
        for pid in last:
            for name, vals in smaps(pid).items():
                acc = maps.setdefault(name, dict.fromkeys(FIELDS, 0))
                for k in FIELDS:
                    acc[k] += vals[k]
            if smaps_dir:
                with open(f"/proc/{pid}/smaps") as src, \
                        open(os.path.join(smaps_dir, f"{peer.name}-{pid}.smaps"), "w") as dst:
                    dst.write(src.read())
        libs = {n for n in maps if n.endswith(".so") or ".so." in n or n in ("dropbear", "sshd",
                                                                             "sshd-session")}
        sections = [r for pid in last for r in smaps_by_section(pid, libs)]
        listener = smaps(peer.proc.pid)
        res = {"procs_per_conn": len(last), "mappings": maps, "sections": sections,
               "listener": total(listener),
               "pss_delta_per_conn_kib": (peer.pss_kib() - base) / conns,
               "conn_processes": sorted(set(peer.pids()) - before - {peer.proc.pid})}
    finally:
        subprocess.run(["pkill", "-f", tag])
        wait_for(lambda: len(peer.pids()) <= len(before), 20)
    return res


def ident_ms(port):
    """Milliseconds from connect() and the client's identification to the
    server's first bytes (its
    identification string): the listener's accept and fork, the re-exec,
    the dynamic loader and everything the server does before it speaks."""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        # the client speaks first: our listener parks a connection that
        # stays silent (patch 0023) and forks only when it has spoken
        s.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n")
        s.recv(64)
    return (time.perf_counter() - t0) * 1000


def timing(peer, n):
    """Median ident latency and login time, and the server's CPU per
    `ssh true` login (the listener's reaped children: shell included)."""
    ident = []
    for _ in range(n):
        ident.append(ident_ms(peer.port))
        time.sleep(0.05)  # the unfinished connection goes before the next
    time.sleep(0.5)
    cpu0 = peer.cpu_ms()
    login = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(peer.ssh("true"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True, timeout=60)
        login.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.5)
    return {"ident_ms": statistics.median(ident), "login_ms": statistics.median(login),
            "server_cpu_ms": (peer.cpu_ms() - cpu0) / n}


def table(name, res, top=14):
    maps = res["mappings"]
    rows = sorted(maps.items(), key=lambda kv: -kv[1]["Pss"])
    t = total(maps)
    out = [f"## {name}: {res['procs_per_conn']} process(es) per connection; "
           f"PSS growth per connection {res['pss_delta_per_conn_kib']:.0f} KiB; "
           f"listener PSS {res['listener']['Pss']} KiB",
           f"| mapping | PSS KiB | Private_Dirty KiB | Private_Clean KiB | Rss KiB |",
           "|---|---:|---:|---:|---:|"]
    for n, v in rows[:top]:
        out.append(f"| {n} | {v['Pss']} | {v['Private_Dirty']} | {v['Private_Clean']} | {v['Rss']} |")
    rest = rows[top:]
    if rest:
        out.append(f"| ({len(rest)} more) | {sum(v['Pss'] for _, v in rest)} | "
                   f"{sum(v['Private_Dirty'] for _, v in rest)} | "
                   f"{sum(v['Private_Clean'] for _, v in rest)} | {sum(v['Rss'] for _, v in rest)} |")
    out.append(f"| **total** | {t['Pss']} | {t['Private_Dirty']} | {t['Private_Clean']} | {t['Rss']} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=10)
    ap.add_argument("--only", default="")
    ap.add_argument("--smaps-dir")
    ap.add_argument("--ssh-option", action="append", default=[], metavar="OPT")
    ap.add_argument("--timing", type=int, default=0, metavar="N",
                    help="also the median of N ident latencies and logins, and server CPU per login")
    ap.add_argument("--out", default=os.path.join(BUILD, "bench", "conn-cost.json"))
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    if a.smaps_dir:
        os.makedirs(a.smaps_dir, exist_ok=True)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    ws = Workspace()
    results = {}
    try:
        todo = variants(ws) + [("openssh", lambda: sshd_peer(ws))]
        for name, make in todo:
            if only and name not in only:
                continue
            peer = make().start()
            try:
                results[name] = measure(peer, a.conns, a.smaps_dir, a.ssh_option) if a.conns else {}
                if a.timing:
                    results[name]["timing"] = timing(peer, a.timing)
            finally:
                peer.stop()
            if a.conns:
                print(table(name, results[name]), "\n", flush=True)
            if a.timing:
                t = results[name]["timing"]
                print(f"{name}: ident {t['ident_ms']:.2f} ms, login {t['login_ms']:.1f} ms, "
                      f"server CPU {t['server_cpu_ms']:.1f} ms per login", flush=True)
    finally:
        ws.cleanup()
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"results: {a.out}")


if __name__ == "__main__":
    main()

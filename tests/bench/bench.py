#!/usr/bin/python3
"""make bench: our server (hook library loaded, default settings), upstream
Dropbear built from the same tarball without our patches, and Debian's
OpenSSH sshd, all run unprivileged on loopback in one run and measured with
the same OpenSSH clients: Debian 12's (OpenSSH 9.2, sntrup761x25519 kex)
and a current one, Debian 13's OpenSSH 10 (mlkem768x25519) from the root
tests/bench/debian13-client.sh prepares under build/.  Prints each figure
per server and client and the ratios ours/OpenSSH and ours/upstream, writes
build/bench/results.json and a plot.

    tests/bench/bench.py [--quick] [--clients debian12,debian13]

Servers are pinned to CPU 0 and clients to CPU 1 (when there are two).
A benchmark, not a test: nothing here fails on a number.
"""
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from conftest import (BUILD, DROPBEAR, HOOK_LIB, Workspace, as_workspace_user,  # noqa: E402
                      free_port, listening, stop_process, wait_for)

UPSTREAM = os.path.join(BUILD, "upstream", "dropbear")
SSHD = "/usr/sbin/sshd"
OUT = os.path.join(BUILD, "bench")
CIPHERS = ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
           "aes128-ctr", "aes256-ctr"]
TWO_CPUS = (os.cpu_count() or 1) >= 2
SERVER_CPU = ["taskset", "-c", "0"] if TWO_CPUS else []
CLIENT_CPU = ["taskset", "-c", "1"] if TWO_CPUS else []
CLIENT_SCRIPT = os.path.join(HERE, "debian13-client.sh")


def clients(wanted):
    """{name: ssh argv prefix}.  Debian 13's ssh runs with its root's own
    dynamic loader and libraries: no chroot or mounts, so the key and
    known_hosts paths stay as they are and nothing stays mounted if a run
    is killed.  Left out (with a note) when the root cannot be made."""
    out = {}
    for name in wanted:
        if name == "debian12":
            out[name] = ["ssh"]
        elif name == "debian13":
            r = subprocess.run([CLIENT_SCRIPT, BUILD], capture_output=True, text=True)
            root = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else ""
            if not root:
                print(f"no Debian 13 client: {r.stderr.strip()}", file=sys.stderr)
                continue
            out[name] = [os.path.join(root, "lib64", "ld-linux-x86-64.so.2"), "--library-path",
                         os.path.join(root, "usr", "lib", "x86_64-linux-gnu"),
                         os.path.join(root, "usr", "bin", "ssh")]
        else:
            sys.exit(f"unknown client {name}: debian12 or debian13")
    return out


def tree(root):
    """root and every process below it."""
    children = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(pid))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cpu_ms(pid):
    """CPU time of a listener and every reaped child (connection processes
    reap their sessions, the listener reaps them)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def pss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += int(re.search(r"^Pss:\s+(\d+)", f.read(), re.M).group(1))
        except (OSError, AttributeError):
            pass
    return total


class Peer:
    """One server under test, started as the workspace user."""

    def __init__(self, ws, name, argv, hostpub):
        self.ws, self.name, self.port = ws, name, None
        self.client = ["ssh"]  # the client's argv prefix (clients())
        self.known_hosts = ws.path(f"known_hosts-{name}")
        self.argv, self.hostpub = argv, hostpub

    def start(self):
        self.port = free_port()
        argv = [a.replace("{PORT}", str(self.port)) for a in self.argv]
        with open(self.known_hosts, "w") as f:
            f.write(f"[127.0.0.1]:{self.port} {self.hostpub}\n")
        args, env = as_workspace_user(self.ws, argv)
        self.log = open(self.ws.path(f"{self.name}.log"), "w")
        self.proc = subprocess.Popen(SERVER_CPU + args, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_for(lambda: listening(self.port), 10):
            sys.exit(f"{self.name} did not start; see {self.log.name}")
        return self

    def ssh(self, *extra, options=()):
        args = CLIENT_CPU + self.client + ["-F", "/dev/null", "-p", str(self.port), "-i", self.ws.key]
        for opt in options:
            args += ["-o", opt]
        return args + ["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                       "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "BatchMode=yes",
                       "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=30",
                       "-o", "ControlMaster=no", "developer@127.0.0.1"] + list(extra)

    def pids(self):
        return tree(self.proc.pid)

    def cpu_ms(self):
        return cpu_ms(self.proc.pid)

    def pss_kib(self):
        return pss_kib(self.pids())

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def save(res, text, stem):
    """OUT/STEM.json (res, indented) and OUT/STEM.txt (text), and text on
    stdout."""
    with open(os.path.join(OUT, stem + ".json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(OUT, stem + ".txt"), "w") as f:
        f.write(text + "\n")
    print(text)


def make_peers(ws):
    hostpub = ws.hostpub
    ours = Peer(ws, "ours", [DROPBEAR, "-F", "-E", "-p", "127.0.0.1:{PORT}", "-r", ws.hostkey,
                             f"--hook={HOOK_LIB}"], hostpub)
    upstream = Peer(ws, "upstream", [UPSTREAM, "-F", "-E", "-p", "127.0.0.1:{PORT}",
                                     "-r", ws.hostkey], hostpub)
    openssh = sshd_peer(ws)
    return [ours.start(), upstream.start(), openssh.start()]


def sshd_peer(ws):
    """Debian's sshd as a peer (not started), on a host key of its own made
    once per workspace."""
    key = ws.path("server", "sshd_host_ed25519")
    if not os.path.exists(key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        ws.chown(key, key + ".pub")
    with open(key + ".pub") as f:
        pub = " ".join(f.read().split()[:2])
    config = ws.path("server", "sshd_config")
    with open(config, "w") as f:
        f.write(f"HostKey {key}\nPidFile {ws.path('server', 'sshd.pid')}\n"
                f"AuthorizedKeysFile {ws.home}/.ssh/authorized_keys\nUsePAM no\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "MaxStartups 300\nMaxSessions 300\n")
    return Peer(ws, "openssh", [SSHD, "-D", "-e", "-f", config, "-o", "ListenAddress=127.0.0.1",
                                "-p", "{PORT}"], pub)


def run(args, **kw):
    return subprocess.run(args, stdin=kw.pop("stdin", subprocess.DEVNULL),
                          stdout=kw.pop("stdout", subprocess.DEVNULL),
                          stderr=subprocess.PIPE, timeout=kw.pop("timeout", 600), **kw)


def connection_times(peers, n):
    times = {p.name: [] for p in peers}
    cpu0 = {p.name: p.cpu_ms() for p in peers}
    for _ in range(n):
        for p in peers:  # interleaved: machine noise hits every server alike
            t0 = time.perf_counter()
            r = run(p.ssh("true"))
            times[p.name].append((time.perf_counter() - t0) * 1000)
            if r.returncode != 0:
                sys.exit(f"{p.name}: login failed: {r.stderr.decode()}")
    time.sleep(0.5)  # the last connection process is reaped
    out = {}
    for p in peers:
        t = sorted(times[p.name])
        out[p.name] = {"median_ms": statistics.median(t), "p90_ms": t[int(0.9 * (len(t) - 1))],
                       "server_cpu_ms": (p.cpu_ms() - cpu0[p.name]) / n}
    return out


def throughput(peers, mib, rounds, ciphers=CIPHERS):
    """Best of `rounds` per cipher, server and direction; rounds interleave
    the servers so that a noisy moment does not hit one of them only."""
    offered = {(c, p.name): run(p.ssh("true", options=[f"Ciphers={c}"])).returncode == 0
               for c in ciphers for p in peers}
    out = {}
    for _ in range(rounds):
        for cipher in ciphers:
            for p in peers:
                if not offered[(cipher, p.name)]:
                    continue
                opt = [f"Ciphers={cipher}"]
                res = out.setdefault(cipher, {}).setdefault(p.name, {})
                for direction in ("upload", "download"):
                    cmd = (f"head -c {mib}M /dev/zero | " + " ".join(p.ssh("cat > /dev/null", options=opt))
                           if direction == "upload"
                           else " ".join(p.ssh(f"head -c {mib}M /dev/zero", options=opt)) + " > /dev/null")
                    t0 = time.perf_counter()
                    r = run(["sh", "-c", cmd])
                    speed = mib / (time.perf_counter() - t0) if r.returncode == 0 else None
                    res[direction] = max(filter(None, (res.get(direction), speed)), default=None)
    return out


def memory(peers, counts):
    out = {}
    for p in peers:
        base = p.pss_kib()
        res = out.setdefault(p.name, {})
        tag = f"ServerAliveCountMax={4000 + free_port() % 1000}"  # marks our clients
        opened = 0
        for n in counts:
            while opened < n:
                batch = min(4, n - opened)  # upstream refuses more than 5 unauthenticated
                procs = [subprocess.Popen(p.ssh("-f", "-N", options=[tag]), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                         for _ in range(batch)]
                opened += sum(1 for q in procs if q.wait(timeout=60) == 0)
            time.sleep(1)
            res[str(n)] = (p.pss_kib() - base) / n / 1024
        subprocess.run(["pkill", "-f", tag])
        wait_for(lambda: len(p.pids()) == 1, 20)
    return out


def burst(peers, n):
    out = {}
    for p in peers:
        procs = [subprocess.Popen(p.ssh("true"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(n)]
        ok = 0
        for q in procs:
            try:
                ok += q.wait(timeout=120) == 0
            except subprocess.TimeoutExpired:
                q.kill()
        out[p.name] = ok
        time.sleep(2)
    return out


def machine(client_argv):
    def first(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    model = "?"
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
        model = m.group(1) if m else model
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "ssh": {name: first(argv + ["-V"]) for name, argv in client_argv.items()},
            "sshd": first([SSHD, "-V"]),
            "dropbear": first([DROPBEAR, "-V"]), "cc": first(["cc", "--version"]),
            "pinned": "server CPU 0, client CPU 1" if TWO_CPUS else "not pinned (one CPU)"}


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def report(res):
    """One table per client; results of one client only (older runs) keep
    their figures at the top level."""
    names = ["ours", "upstream", "openssh"]
    per_client = res.get("clients") or {"debian12": res}
    ssh = res["machine"]["ssh"]
    lines = [f"machine: {res['machine']['cpu']}, {res['machine']['cpus']} CPUs, "
             f"kernel {res['machine']['kernel']}; {res['machine']['pinned']}",
             f"sshd: {res['machine']['sshd']}; ours: {res['machine']['dropbear']}"]
    head = f"{'figure':<44}" + "".join(f"{n:>11}" for n in names) + f"{'ours/ossh':>11}{'ours/up':>10}"

    def row(label, vals):
        o, u, s = (vals.get(n) for n in names)
        fmt = [f"{v:>11.1f}" if isinstance(v, (int, float)) else f"{'-':>11}" for v in (o, u, s)]
        lines.append(f"{label:<44}" + "".join(fmt) + f"{ratio(o, s):>11}{ratio(o, u):>10}")
    for client, cres in per_client.items():
        version = ssh.get(client, "?") if isinstance(ssh, dict) else ssh
        lines += ["", f"client {client}: {version}", head]
        ct = cres["connect"]
        row(f"connect median ms (n={res['n']})", {k: v["median_ms"] for k, v in ct.items()})
        row("connect p90 ms", {k: v["p90_ms"] for k, v in ct.items()})
        row("server CPU ms per login (incl. the shell)", {k: v["server_cpu_ms"] for k, v in ct.items()})
        for cipher, per in cres["throughput"].items():
            for d in ("upload", "download"):
                row(f"{d} MiB/s {cipher}", {k: v.get(d) for k, v in per.items()})
        for d in ("upload", "download"):
            best = {n: max([per[n][d] for per in cres["throughput"].values()
                            if n in per and per[n].get(d)] or [0]) or None for n in names}
            row(f"{d} MiB/s, each server's best cipher", best)
        for n in res["memory_counts"]:
            row(f"PSS MiB per idle connection ({n} open)",
                {k: v[str(n)] for k, v in cres["memory"].items()})
    lines += ["", head]
    row(f"burst: successes of {res['burst_n']} parallel logins", res["burst"])
    return "\n".join(lines)


def plot(res, path):
    """Ratios ours/OpenSSH and ours/upstream as a bar chart (gnuplot), an
    SVG: text that diffs, scales, and shows in docs/benchmarks.md as is."""
    if not shutil.which("gnuplot"):
        return None
    rows = []
    for client, cres in (res.get("clients") or {"": res}).items():
        ct = cres["connect"]
        rows.append((f"connect time {client}".strip(), ct["ours"]["median_ms"] / ct["openssh"]["median_ms"],
                     ct["ours"]["median_ms"] / ct["upstream"]["median_ms"]))
    for d in ("upload", "download"):
        best = {n: max([per[n][d] for per in res["throughput"].values()
                        if n in per and per[n].get(d)] or [0]) for n in ("ours", "upstream", "openssh")}
        if all(best.values()):
            rows.append((f"{d} (best cipher)", best["ours"] / best["openssh"], best["ours"] / best["upstream"]))
    last = str(res["memory_counts"][-1])
    m = res["memory"]
    rows.append((f"PSS/conn ({last})", m["ours"][last] / m["openssh"][last], m["ours"][last] / m["upstream"][last]))
    b = res["burst"]
    rows.append(("burst successes", b["ours"] / max(b["openssh"], 1), b["ours"] / max(b["upstream"], 1)))
    data = path + ".dat"
    with open(data, "w") as f:
        for label, a, c in rows:
            f.write(f'"{label}" {a:.3f} {c:.3f}\n')
    script = f"""set terminal svg size 900,420 font "sans,12"
set output "{path}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "ratio ours / peer (log scale; 1 = same)"
set logscale y 2
set yrange [0.125:64]
set grid ytics
set xtics rotate by -20
set key top left
set title "ssh-workspace vs OpenSSH sshd and upstream Dropbear (same run)"
plot "{data}" using 2:xtic(1) title "ours / OpenSSH", "" using 3 title "ours / upstream Dropbear", 1 with lines lc rgb "black" dt 2 notitle
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return path


def replot(path):
    """Redraws the plot of an earlier run: bench.py --plot results.json"""
    with open(path) as f:
        res = json.load(f)
    print(plot(res, os.path.join(os.path.dirname(path), "ratios.svg")))


def main():
    if "--plot" in sys.argv:
        return replot(sys.argv[sys.argv.index("--plot") + 1])
    quick = "--quick" in sys.argv
    wanted = (sys.argv[sys.argv.index("--clients") + 1].split(",") if "--clients" in sys.argv
              else ["debian12", "debian13"])
    n, mib, rounds, counts, burst_n = ((10, 128, 1, [5, 20], 50) if quick
                                       else (30, 1024, 2, [20, 100], 200))
    for path, what in ((UPSTREAM, "make upstream"), (SSHD, "tests/deps.sh --install bench")):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run {what}")
    os.makedirs(OUT, exist_ok=True)
    client_argv = clients(wanted)
    if not client_argv:
        sys.exit("no client to measure with")
    ws = Workspace()
    peers = []
    try:
        peers = make_peers(ws)
        res = {"machine": machine(client_argv), "n": n, "memory_counts": counts,
               "burst_n": burst_n, "clients": {}}
        for client, argv in client_argv.items():
            for p in peers:
                p.client = argv
            cres = res["clients"][client] = {}
            print(f"[{client}] connection time ...", flush=True)
            cres["connect"] = connection_times(peers, n)
            print(f"[{client}] throughput ({mib} MiB each way per cipher, best of {rounds}) ...",
                  flush=True)
            cres["throughput"] = throughput(peers, mib, rounds)
            print(f"[{client}] memory ...", flush=True)
            cres["memory"] = memory(peers, counts)
        # the plot and older readers: the first client's figures at the top
        res.update(next(iter(res["clients"].values())))
        print(f"burst of {burst_n} (client {next(iter(client_argv))}) ...", flush=True)
        for p in peers:
            p.client = next(iter(client_argv.values()))
        res["burst"] = burst(peers, burst_n)
    finally:
        for p in peers:
            p.stop()
        ws.cleanup()
    save(res, report(res), "results")
    svg = plot(res, os.path.join(OUT, "ratios.svg"))
    print(f"\nresults: {OUT}/results.json, results.txt" + (f", plot {svg}" if svg else ""))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Per-login cost of each environment source, next to a login with no
source, all from one run against one build: N logins (`ssh host true`)
per configuration, interleaved round by round so that machine noise hits
every configuration alike.  Prints medians, p90s and the difference from
the no-source login.  A benchmark, not a test: it never fails on numbers.

    tests/bench/bench_env.py [N]        (make bench-env)
"""
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from conftest import Server, Workspace  # noqa: E402
from test_env import EnvEndpoint, kubelet_dir, write_exec  # noqa: E402


def configs(ws):
    kubelet_dir(ws.path("envdir"), {f"VAR_{i}": f"value {i}" for i in range(20)})
    with open(ws.path("all.env"), "w") as f:
        f.write("".join(f"VAR_{i}='value {i}'\n" for i in range(20)))
    helper = write_exec(ws, "helper.sh",
                        "#!/bin/sh\n" + "".join(f"echo VAR_{i}=value{i}\n" for i in range(20)))
    body = "{" + ",".join(f'"VAR_{i}":"value {i}"' for i in range(20)) + "}"
    sock = EnvEndpoint(ws.path("env.sock"), body=body)
    return sock, {
        "none": "",
        "dir": f"env_dir = {ws.path('envdir')}\n",
        "file": f"env_file = {ws.path('all.env')}\n",
        "command": f"env_command = {helper}\n",
        "socket": f"env_socket = {sock.path}\n",
    }


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    ws = Workspace()
    sock, texts = configs(ws)
    texts["all four"] = "".join(texts.values())
    servers = {}
    try:
        for name, text in texts.items():
            ws.config = ws.write_config("event_log = stderr\n" + text, f"{name.replace(' ', '_')}.conf")
            servers[name] = Server(ws).wait_ready()
        times = {name: [] for name in servers}
        for _ in range(n):
            for name, server in servers.items():
                t0 = time.perf_counter()
                r = subprocess.run(server.ssh_args() + ["true"], stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=60)
                times[name].append((time.perf_counter() - t0) * 1000)
                if r.returncode != 0:
                    sys.exit(f"{name}: login failed: {r.stderr.decode()}")
        base = statistics.median(times["none"])
        print(f"per-login cost of each environment source ({n} logins each, 20 variables per source)")
        print("login: `ssh host true` end to end; in server: the source's own time (env_source events)")
        print(f"{'source':<10} {'login median ms':>16} {'p90 ms':>8} {'vs none ms':>11} "
              f"{'in server median ms':>20}")
        for name, t in times.items():
            t.sort()
            med, p90 = statistics.median(t), t[int(0.9 * (len(t) - 1))]
            spent = {}
            for e in servers[name].events():
                if e["event"] == "env_source":
                    spent.setdefault(e["session"], 0)
                    spent[e["session"]] += e["us"]
            inside = statistics.median(spent.values()) / 1000 if spent else 0.0
            print(f"{name:<10} {med:>16.1f} {p90:>8.1f} {med - base:>+11.1f} {inside:>20.3f}")
    finally:
        for s in servers.values():
            s.stop()
        sock.close()
        ws.cleanup()


if __name__ == "__main__":
    main()

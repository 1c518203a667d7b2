"""Many concurrent SSH sessions from one process (asyncssh, one event loop),
for test_load.py:

    load_client.py '{"port": ..., "user": ..., "key": ..., "hostkey": ...,
                     "sessions": N, "in_flight": M, "command": ...}'

Opens N connections with at most M handshakes in flight at once (the
server's --max-unauth counts connections that have not logged in yet); each
runs `command`, which must print "ok" and then wait for a line on stdin.
When every session has printed "ok" (or failed), prints one JSON line
{"open": ..., "failures": [...], "latency": [...]} and waits for a line on
its own stdin; then sends "go" to every session and prints a last JSON line
{"completed": ..., "failures": [...]} once they have all exited.  Every wait
is bounded."""
import asyncio
import json
import sys
import time
import warnings

STEP_TIMEOUT = 120  # one connection's login, or its end


async def main(spec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import asyncssh
    known = asyncssh.import_known_hosts(f"[127.0.0.1]:{spec['port']} {spec['hostkey']}\n")
    key = asyncssh.read_private_key(spec["key"])
    n = spec["sessions"]
    in_flight = asyncio.Semaphore(spec["in_flight"])
    opened = []       # (conn, proc) of the sessions that printed "ok"
    failures = []     # one line per failed session
    latency = []      # seconds from connect to "ok", per session
    settled = 0
    all_settled = asyncio.Event()
    go = asyncio.Event()

    def settle():
        nonlocal settled
        settled += 1
        if settled == n:
            all_settled.set()

    async def one(i):
        conn = proc = None
        try:
            async with in_flight:
                t0 = time.monotonic()
                conn = await asyncio.wait_for(asyncssh.connect(
                    "127.0.0.1", spec["port"], username=spec["user"], client_keys=[key],
                    known_hosts=known, agent_path=None), STEP_TIMEOUT)
                proc = await conn.create_process(spec["command"])
                line = await asyncio.wait_for(proc.stdout.readline(), STEP_TIMEOUT)
                if line != "ok\n":
                    raise RuntimeError(f"first line {line!r}")
                latency.append(time.monotonic() - t0)
            opened.append(i)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failures.append(f"session {i} opening: {type(e).__name__}: {e}")
            if conn is not None:
                conn.abort()
            return
        finally:
            settle()
        try:
            await go.wait()
            proc.stdin.write("go\n")
            proc.stdin.write_eof()
            rest = await asyncio.wait_for(proc.stdout.read(), STEP_TIMEOUT)
            await asyncio.wait_for(proc.wait(), STEP_TIMEOUT)
            if rest != "done go\n" or proc.exit_status != 0:
                raise RuntimeError(f"output {rest!r}, exit status {proc.exit_status}")
            conn.close()
            await asyncio.wait_for(conn.wait_closed(), STEP_TIMEOUT)
            return True
        except Exception as e:  # noqa: BLE001
            failures.append(f"session {i} ending: {type(e).__name__}: {e}")
            conn.abort()
            return False

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await all_settled.wait()
    print(json.dumps({"open": len(opened), "failures": failures, "latency": latency}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    go.set()
    results = await asyncio.gather(*tasks)
    print(json.dumps({"completed": results.count(True), "failures": failures}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))

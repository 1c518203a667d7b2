"""A flood of idle TCP connections that is held, for test_load.py:

    flood_client.py PORT COUNT MAX_SECONDS [SEND]

Keeps COUNT connections to 127.0.0.1:PORT open (one asyncio task each),
sending nothing (or only SEND, e.g. an identification line) and discarding
what the server sends; when the server closes one, it connects again at
once - the cheapest flood there is, and it does not run out.  Prints {"held": COUNT} once every connection has been
made (or failed) once, and stops at a line on stdin or after MAX_SECONDS,
then prints {"connects": ..., "closed_by_server": ..., "errors": ...}."""
import asyncio
import json
import os
import resource
import sys
import threading

CONNECT_TIMEOUT = 30  # seconds: connects queue behind the server's accepts


async def main(port, count, max_seconds, send):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    stats = {"connects": 0, "closed_by_server": 0, "errors": 0}
    stop = asyncio.Event()
    first = [0]
    all_tried = asyncio.Event()

    def tried():
        first[0] += 1
        if first[0] == count:
            all_tried.set()

    async def hold():
        once = False
        while not stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), CONNECT_TIMEOUT)
            except (OSError, asyncio.TimeoutError):
                stats["errors"] += 1
                if not once:
                    once = True
                    tried()
                await asyncio.sleep(0.2)
                continue
            stats["connects"] += 1
            if send:
                writer.write(send)
            if not once:
                once = True
                tried()
            try:
                while await reader.read(4096):
                    pass
                stats["closed_by_server"] += 1
            except OSError:
                stats["closed_by_server"] += 1
            finally:
                writer.close()

    # the loop keeps only weak references to tasks
    tasks = [asyncio.create_task(hold()) for _ in range(count)]
    loop = asyncio.get_running_loop()
    told = asyncio.Event()
    # a daemon thread: asyncio.run() would wait for an executor's readline
    threading.Thread(target=lambda: (sys.stdin.readline(), loop.call_soon_threadsafe(told.set)),
                     daemon=True).start()
    deadline = loop.time() + max_seconds
    await asyncio.wait([asyncio.ensure_future(all_tried.wait()),
                        asyncio.ensure_future(told.wait())],
                       timeout=max_seconds, return_when=asyncio.FIRST_COMPLETED)
    print(json.dumps({"held": first[0]}), flush=True)
    try:
        await asyncio.wait_for(told.wait(), max(0.0, deadline - loop.time()))
    except asyncio.TimeoutError:
        pass
    stop.set()
    print(json.dumps(dict(stats, tasks=len(tasks))), flush=True)
    # the kernel closes every socket at once; cancelling thousands of tasks
    # mid-connect can take many seconds
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
                     sys.argv[4].encode() if len(sys.argv) > 4 else b""))

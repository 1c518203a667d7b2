"""A TCP proxy on 127.0.0.1 that adds a one-way delay in each direction, for
test_load.py: a client far from the server, without a network namespace.

    delay_proxy.py TARGET_PORT DELAY_SECONDS

Prints its own port on one line, then forwards every connection to
127.0.0.1:TARGET_PORT.  The upstream connect waits DELAY too (the SYN's
trip), and every chunk read on one side is written on the other DELAY
after it arrived, in order, so a round trip through it takes 2 * DELAY.
The client's own connect completes at once (the kernel answers it), so a
login through it is a little faster than over a real link of that delay.
Runs until killed; a connection that fails is closed on both sides."""
import asyncio
import socket
import sys

CONNECT_TIMEOUT = 60  # seconds: the server's accept queue may be long


def delayed(reader, delay):
    """A queue of (due time, chunk) read from reader; b"" at EOF, None on
    an error.  Reading starts at once, so each chunk's due time is when it
    arrived plus the delay."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def feed():
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((loop.time() + delay, data))
                if not data:
                    return
        except OSError:
            queue.put_nowait((loop.time(), None))

    return queue, asyncio.create_task(feed())


def write_due(queue, writer, now):
    """Writes the chunks already due, at once; False once the stream ended."""
    while not queue.empty() and queue._queue[0][0] <= now:  # noqa: SLF001 - peek
        _, data = queue.get_nowait()
        if not data:
            if data is None:
                raise OSError("reset")
            if writer.can_write_eof():
                writer.write_eof()
            return False
        writer.write(data)
    return True


async def drain(queue, writer):
    """Writes each chunk when it is due, in order, until the end."""
    loop = asyncio.get_running_loop()
    while True:
        due, data = await queue.get()
        await asyncio.sleep(max(0.0, due - loop.time()))
        queue._queue.appendleft((due, data))  # noqa: SLF001 - back to the front
        if not write_due(queue, writer, loop.time()):
            return
        await writer.drain()


async def handle(client_reader, client_writer, port, delay):
    loop = asyncio.get_running_loop()
    c2s, c2s_feed = delayed(client_reader, delay)
    server_writer = s2c_feed = None
    try:
        await asyncio.sleep(delay)  # the SYN's trip
        server_reader, server_writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), CONNECT_TIMEOUT)
        # what the client sent while the handshake went on follows it at
        # once, as over TCP, where the first data leaves right after the ACK
        if write_due(c2s, server_writer, loop.time()):
            s2c, s2c_feed = delayed(server_reader, delay)
            await asyncio.gather(drain(c2s, server_writer), drain(s2c, client_writer))
    except (OSError, asyncio.TimeoutError):
        pass
    finally:
        for task in (c2s_feed, s2c_feed):
            if task is not None:
                task.cancel()
        for w in (client_writer, server_writer):
            if w is not None:
                w.close()


async def main(port, delay):
    server = await asyncio.start_server(lambda r, w: handle(r, w, port, delay),
                                        "127.0.0.1", 0, family=socket.AF_INET)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))

#!/usr/bin/env python3
"""
A TCP proxy on 127.0.0.1 that delays everything it forwards by a fixed time
each way, keeping the order: a stand-in for a network between the client and
the database server (C{bench/run.py --latency}).

    python bench/lagproxy.py LISTEN_PORT TARGET_PORT ONE_WAY_SECONDS

It prints C{ready} once it listens, and runs until killed.
"""

from __future__ import annotations

import asyncio
import socket
import sys


async def forward(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    """
    Copy what C{reader} gives to C{writer}, each chunk C{delay} seconds
    later; close C{writer} as late after the end.
    """
    loop = asyncio.get_running_loop()
    try:
        while data := await reader.read(65536):
            loop.call_later(delay, writer.write, data)
    except ConnectionError:
        pass
    finally:
        loop.call_later(delay, writer.close)


async def serve(listenPort: int, targetPort: int, delay: float) -> None:
    """
    Accept connections on C{listenPort}, each forwarded to C{targetPort}.
    """

    async def proxied(client: asyncio.StreamReader, clientWriter: asyncio.StreamWriter) -> None:
        server, serverWriter = await asyncio.open_connection("127.0.0.1", targetPort)
        for end in (clientWriter, serverWriter):
            end.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            forward(client, serverWriter, delay), forward(server, clientWriter, delay))

    listening = await asyncio.start_server(proxied, "127.0.0.1", listenPort)
    print("ready", flush=True)
    async with listening:
        await listening.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))

"""bench/tcp_proxy.py, the database outage of bench/load.py: it forwards, cut() drops open connections
and refuses new ones, restore() forwards again."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from bench.tcp_proxy import TcpProxy


async def _echo(reader, writer):
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _read(reader) -> bytes:
    """What comes back; b"" when the connection was closed (an end of stream or a reset)."""
    try:
        return await asyncio.wait_for(reader.read(1024), timeout=2)
    except ConnectionResetError:
        return b""


async def _round_trip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
    except ConnectionResetError:
        return b""
    try:
        return await _read(reader)
    finally:
        writer.close()


async def _scenario() -> dict:
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    proxy = TcpProxy(("127.0.0.1", echo.sockets[0].getsockname()[1]))
    port = await proxy.start("127.0.0.1", 0)
    seen = {"before": await _round_trip(port, b"ping")}
    reader, writer = await asyncio.open_connection("127.0.0.1", port)  # open while the cut comes
    writer.write(b"held")
    await writer.drain()
    seen["held"] = await _read(reader)
    proxy.cut()
    seen["held_after_cut"] = await _read(reader)
    seen["new_while_cut"] = await _round_trip(port, b"ping")
    proxy.restore()
    seen["after_restore"] = await _round_trip(port, b"pong")
    writer.close()
    await proxy.close()
    echo.close()
    await echo.wait_closed()
    return seen


def test_the_proxy_forwards_is_cut_and_restored():
    # A thread of its own: a browser test before it in the same worker may leave an event loop running.
    with ThreadPoolExecutor(max_workers=1) as thread:
        seen = thread.submit(asyncio.run, _scenario()).result(timeout=30)
    assert seen == {
        "before": b"ping",
        "held": b"held",
        "held_after_cut": b"",  # the open connection was closed
        "new_while_cut": b"",  # accepted and closed at once
        "after_restore": b"pong",
    }

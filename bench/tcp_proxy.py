"""A TCP proxy that can be cut and restored: bench/load.py puts it between the portal and PostgreSQL to
simulate a database outage without touching the shared server.

    .venv/bin/python bench/tcp_proxy.py --listen 8511 --target 127.0.0.1:5432

Its first line on stdout says it listens. SIGUSR1 cuts it: every open connection is closed and each new
one is closed as soon as it is accepted (a client sees the server go away, at once, as when PostgreSQL
stops). SIGUSR2 restores it. SIGTERM stops it.
"""

import argparse
import asyncio
import contextlib
import signal


class TcpProxy:
    """Forwards every connection on (host, port) to target; cut() and restore() switch it off and on."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.is_cut = False
        self.connections: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listens; the port (a free one when port is 0)."""
        self.server = await asyncio.start_server(self._handle, host, port)
        return self.server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self.is_cut = True
        for writer in list(self.connections):
            writer.close()

    def restore(self) -> None:
        self.is_cut = False

    async def close(self) -> None:
        self.cut()
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.connections.update((writer, upstream_writer))
        try:
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        finally:
            self.connections.discard(writer)
            self.connections.discard(upstream_writer)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


async def serve(listen: int, target: tuple[str, int]) -> None:
    proxy = TcpProxy(target)
    port = await proxy.start("127.0.0.1", listen)
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, proxy.cut)
    loop.add_signal_handler(signal.SIGUSR2, proxy.restore)
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    print(f"tcp proxy listening on 127.0.0.1:{port} for {target[0]}:{target[1]}", flush=True)
    await stopped.wait()
    await proxy.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--target", required=True, help="host:port")
    options = parser.parse_args()
    host, port = options.target.rsplit(":", 1)
    asyncio.run(serve(options.listen, (host, int(port))))


if __name__ == "__main__":
    main()

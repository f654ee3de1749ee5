"""A delaying TCP proxy for the cloud tests and the drain benchmark: every byte is forwarded
`delay_ms` later in each direction (RTT = 2 x delay_ms), order kept. Loopback only (listens on
127.0.0.1, forwards to 127.0.0.1). Bounded: at most `max_buffered` bytes wait per direction;
past that the proxy stops reading from that side (TCP backpressure), so memory stays bounded.

    python3 delay_proxy.py --target PORT --delay-ms 25 [--listen PORT]   # prints the port
or in-process: DelayProxy(target_port, delay_ms).start() ... .stop()
"""

import argparse
import asyncio
import collections
import sys
import threading
import time

MAX_BUFFERED = 8 * 1024 * 1024


class _Pipe:
    def __init__(self, reader, writer, delay_s, max_buffered):
        self.reader, self.writer = reader, writer
        self.delay_s = delay_s
        self.max_buffered = max_buffered
        self.queue = collections.deque()  # (due time, bytes)
        self.buffered = 0
        self.has_data = asyncio.Event()
        self.has_room = asyncio.Event()
        self.has_room.set()

    async def pump_in(self):
        try:
            while True:
                await self.has_room.wait()
                data = await self.reader.read(65536)
                if not data:
                    break
                self.queue.append((time.monotonic() + self.delay_s, data))
                self.buffered += len(data)
                if self.buffered >= self.max_buffered:
                    self.has_room.clear()
                self.has_data.set()
        except (ConnectionError, OSError):
            pass
        self.queue.append((time.monotonic() + self.delay_s, None))
        self.has_data.set()

    async def pump_out(self):
        try:
            while True:
                while not self.queue:
                    self.has_data.clear()
                    await self.has_data.wait()
                due, data = self.queue[0]
                now = time.monotonic()
                if due > now:
                    await asyncio.sleep(due - now)
                self.queue.popleft()
                if data is None:
                    break
                # Everything already due goes out in one write.
                chunks = [data]
                while self.queue and self.queue[0][1] is not None and \
                        self.queue[0][0] <= time.monotonic():
                    chunks.append(self.queue.popleft()[1])
                blob = b"".join(chunks)
                self.buffered -= len(blob)
                if self.buffered < self.max_buffered:
                    self.has_room.set()
                self.writer.write(blob)
                await self.writer.drain()
        except (ConnectionError, OSError):
            pass
        try:
            self.writer.close()
        except Exception:
            pass


class DelayProxy:
    def __init__(self, target_port, delay_ms, listen_port=0, max_buffered=MAX_BUFFERED):
        self.target_port = target_port
        self.delay_s = delay_ms / 1000.0
        self.listen_port = listen_port
        self.max_buffered = max_buffered
        self.port = None
        self.connections = 0
        self._loop = None
        self._thread = None
        self._server = None
        self._ready = threading.Event()
        self._tasks = set()

    async def _handle(self, cr, cw):
        self._tasks.add(asyncio.current_task())
        self.connections += 1
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            cw.close()
            return
        up = _Pipe(cr, uw, self.delay_s, self.max_buffered)
        down = _Pipe(ur, cw, self.delay_s, self.max_buffered)
        try:
            await asyncio.gather(up.pump_in(), up.pump_out(), down.pump_in(), down.pump_out())
        finally:
            for w in (cw, uw):
                w.close()
            self._tasks.discard(asyncio.current_task())

    async def _main(self):
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.listen_port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def start(self):
        def run():
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self._main())
            except (asyncio.CancelledError, RuntimeError):
                pass
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5), "delay proxy did not start"
        return self

    def stop(self):
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(5)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=25.0, help="per direction")
    ap.add_argument("--listen", type=int, default=0)
    a = ap.parse_args()
    p = DelayProxy(a.target, a.delay_ms, a.listen).start()
    print(p.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        p.stop()


if __name__ == "__main__":
    sys.exit(main())

# relay: a TCP relay between the daemon and the broker that counts the bytes each way and,
# for the emulated 4G link, delays them (latency, jitter, and the stall a lost segment costs).
#
# Loss cannot be dropped here: the relay sits on top of TCP, which turns a lost segment into a
# delay. So a "lost" segment holds everything behind it for a retransmit timeout, and while it
# is held the relay reads no more from that side (the sender's window is full), so the stall
# pushes back into the sender's socket as a real loss would. Slow start after the retransmit is
# not modelled. Order is always kept: jitter never reorders bytes.
import asyncio
import random
import socket
import threading
import time

MSS = 1448


class Shape:
    """Per direction: one_way_ms ± jitter_ms (uniform), and each segment of MSS bytes lost with
    probability loss, costing a stall drawn uniformly from stall_ms."""

    def __init__(self, one_way_ms=0.0, jitter_ms=0.0, loss=0.0, stall_ms=(200, 1000)):
        self.one_way_ms, self.jitter_ms, self.loss, self.stall_ms = one_way_ms, jitter_ms, loss, stall_ms

    def describe(self):
        return {"one_way_ms": self.one_way_ms, "jitter_ms": self.jitter_ms,
                "segment_loss": self.loss, "stall_ms": list(self.stall_ms)}


class Relay:
    """Listens on listen_host (port picked by the kernel, in self.port) and joins each client
    to upstream. Counters: up (client to upstream) and down bytes, connections, stalls."""

    def __init__(self, listen_host, upstream_host, upstream_port, shape=None, seed=1, rcvbuf=None):
        self.listen_host, self.upstream = listen_host, (upstream_host, upstream_port)
        self.shape = shape or Shape()
        self.rng = random.Random(seed)
        self.rcvbuf = rcvbuf
        self.lock = threading.Lock()
        self.up = self.down = self.connections = self.stalls = 0
        self.connect_times = []
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10) or self.port is None:
            raise RuntimeError("relay did not start on %s" % listen_host)

    def counts(self):
        with self.lock:
            return {"up": self.up, "down": self.down, "connections": self.connections, "stalls": self.stalls}

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.port = None
        try:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.rcvbuf:  # before listen, so accepted sockets advertise a window that fits it
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.bind((self.listen_host, 0))
            self.server = self.loop.run_until_complete(asyncio.start_server(self._client, sock=sock))
            self.port = sock.getsockname()[1]
        finally:
            ready.set()
        self.loop.run_forever()

    def stop(self):
        async def shut():
            self.server.close()
            tasks = [t for t in asyncio.all_tasks(self.loop) if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(shut(), self.loop)
            self.thread.join(10)

    async def _client(self, reader, writer):
        with self.lock:
            self.connections += 1
            self.connect_times.append(time.time())
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        tasks = [asyncio.ensure_future(self._pipe(reader, up_w, "up")),
                 asyncio.ensure_future(self._pipe(up_r, writer, "down"))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        for w in (writer, up_w):
            w.close()

    def _delay_s(self, n):
        """When a chunk of n bytes read now may leave, and whether a segment of it was lost."""
        s = self.shape
        d = s.one_way_ms + (self.rng.uniform(-s.jitter_ms, s.jitter_ms) if s.jitter_ms else 0.0)
        lost = False
        if s.loss:
            segments = (n + MSS - 1) // MSS
            lost = self.rng.random() < 1.0 - (1.0 - s.loss) ** segments
            if lost:
                d += self.rng.uniform(*s.stall_ms)
        return max(0.0, d) / 1000.0, lost

    async def _pipe(self, reader, writer, way):
        shaped = self.shape.one_way_ms or self.shape.jitter_ms or self.shape.loss
        queue = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(queue, writer)) if shaped else None
        last_release = 0.0
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                with self.lock:
                    setattr(self, way, getattr(self, way) + len(data))
                if not shaped:
                    writer.write(data)
                    await writer.drain()
                    continue
                d, lost = self._delay_s(len(data))
                release = max(time.monotonic() + d, last_release)  # in order, as TCP delivers
                last_release = release
                queue.put_nowait((release, data))
                if lost:
                    with self.lock:
                        self.stalls += 1
                    # The sender's window is full until the retransmit gets through.
                    await asyncio.sleep(max(0.0, release - time.monotonic()))
        except asyncio.CancelledError:
            if sender:
                sender.cancel()
            raise
        if sender:  # the sender closed its side: what is on the way still arrives
            queue.put_nowait((0.0, None))
            await sender

    async def _send(self, queue, writer):
        while True:
            release, data = await queue.get()
            if data is None:
                return
            wait = release - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

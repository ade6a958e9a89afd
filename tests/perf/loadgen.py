"""A small closed-loop HTTP load generator: the pages bench's stand-in when wrk is missing.

    python -m tests.perf.loadgen http://127.0.0.1:8000/me/ -c 4 -d 5 -H "Cookie: sessionid=..."

It opens N connections (one thread each, HTTP/1.1 with keep-alive) and on each sends the
next GET as soon as the previous response has been read in full, for a fixed duration: a
closed loop, as wrk runs. When the server closes the connection after a response
(gunicorn's sync worker always does) it connects again, as wrk does. It prints one JSON line:

    {"generator": "python", "requests": ..., "seconds": ..., "rps": ..., "p50_ms": ...,
     "p95_ms": ..., "p99_ms": ..., "errors": ..., "non2xx": ..., "socket_errors": ...,
     "client_cpu": ...}

`rps` counts the responses completed within the duration (a request still in flight at the
end is dropped, as wrk drops it). Latencies are those of the 2xx/3xx responses, from the
request's first byte sent to the response's last byte read (the connect excluded, as in
wrk), nearest rank. `errors` is `non2xx` (responses other than 2xx/3xx) plus
`socket_errors` (requests that failed at the connection: refused, reset, timed out, garbled).
`client_cpu` is the CPU the generator itself used, as a share of one core over the run.

HTTP is spoken over plain sockets with a minimal response reader (Content-Length, chunked,
or to the close), because http.client costs enough per request to hold a fast server back.
Measured against gunicorn (one sync worker, on its own core; this generator and wrk pinned
to the other, 4 connections): on a trivial WSGI app wrk did 6,900-8,300 requests/s and this
80-88% of that (http.client: ~75%); on a page of ~0.8 ms wrk did ~1,200/s and this 95-98%
(http.client: ~93%). So its rates are a little low, the more so the faster the page: the
bench's bare view suffers most, and shares of it read slightly high.
It only ever talks to the URL it is given; the bench gives it 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

TIMEOUT = 10.0  # seconds one request may take before it counts as a socket error
NO_BODY = (204, 304)


class BadResponse(Exception):
    """The server's bytes are not an HTTP/1.x response we can frame."""


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil(n * pct / 100), at least 1
    return sorted_values[int(rank) - 1]


class Reader:
    """Buffered reads from one socket, enough to frame HTTP/1.x responses."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed mid-response")
        self.buf += data

    def until(self, marker: bytes, limit: int = 65536) -> bytes:
        """The bytes up to and including marker."""
        start = 0
        while (i := self.buf.find(marker, start)) < 0:
            if len(self.buf) > limit:
                raise BadResponse("response head too long")
            start = max(0, len(self.buf) - len(marker) + 1)
            self._more()
        end = i + len(marker)
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out

    def exactly(self, n: int) -> None:
        while len(self.buf) < n:
            self._more()
        del self.buf[:n]

    def to_close(self) -> None:
        self.buf.clear()
        while self.sock.recv(65536):
            pass


def read_response(reader: Reader) -> tuple[int, bool]:
    """Read one whole response; its status and whether the connection stays open."""
    head = reader.until(b"\r\n\r\n").split(b"\r\n")
    try:
        version, code = head[0].split(None, 2)[:2]
        status = int(code)
    except ValueError:
        raise BadResponse(f"bad status line {head[0][:80]!r}") from None
    if not version.startswith(b"HTTP/1."):
        raise BadResponse(f"bad status line {head[0][:80]!r}")
    headers = {}
    for line in head[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower()] = value.strip().lower()
    tokens = {t.strip() for t in headers.get(b"connection", b"").split(b",")}
    keep = b"keep-alive" in tokens if version == b"HTTP/1.0" else b"close" not in tokens
    if status < 200:
        raise BadResponse(f"unexpected interim response {status}")
    if status in NO_BODY:
        pass
    elif b"chunked" in headers.get(b"transfer-encoding", b""):
        while True:
            size = int(reader.until(b"\r\n").split(b";")[0].strip(), 16)
            if size == 0:
                while reader.until(b"\r\n") != b"\r\n":  # trailers, then the blank line
                    pass
                break
            reader.exactly(size + 2)  # the chunk and its CRLF
    elif b"content-length" in headers:
        reader.exactly(int(headers[b"content-length"]))
    else:
        reader.to_close()  # the body runs to the end of the connection
        keep = False
    return status, keep


class Connection(threading.Thread):
    """One closed-loop connection: request, read the whole response, repeat until the end."""

    def __init__(self, address, request, start, stop_at):
        super().__init__(daemon=True)
        self.address, self.request = address, request
        self.start_barrier, self.stop_at = start, stop_at
        self.latencies: list[float] = []
        self.non2xx = 0
        self.socket_errors = 0

    def run(self) -> None:
        self.start_barrier.wait()
        stop_at = self.stop_at[0]
        clock = time.perf_counter
        sock = reader = None
        while clock() < stop_at:
            try:
                if sock is None:
                    sock = socket.create_connection(self.address, timeout=TIMEOUT)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    reader = Reader(sock)
                began = clock()
                sock.sendall(self.request)
                status, keep = read_response(reader)
                ended = clock()
            except (OSError, ValueError, BadResponse):
                if sock is not None:
                    sock.close()
                sock = None
                if clock() < stop_at:
                    self.socket_errors += 1
                continue
            if not keep:
                sock.close()
                sock = None
            if ended > stop_at:
                break  # finished after the end: not part of the run, as with wrk
            if 200 <= status < 400:
                self.latencies.append(ended - began)
            else:
                self.non2xx += 1
        if sock is not None:
            sock.close()


def run(url: str, connections: int = 4, duration: float = 5.0, headers=None) -> dict:
    parts = urlsplit(url)
    if connections < 1 or duration <= 0:
        raise ValueError("need at least one connection and a positive duration")
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http://host[:port]/ URLs are supported, not {url!r}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "User-Agent: velory-loadgen"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    start = threading.Barrier(connections + 1)
    stop_at = [0.0]  # set before the barrier opens, read by each thread after it
    address = (parts.hostname, parts.port or 80)
    threads = [Connection(address, request, start, stop_at) for _ in range(connections)]
    for t in threads:
        t.start()
    cpu0 = time.process_time()
    began = time.perf_counter()
    stop_at[0] = began + duration
    start.wait()
    for t in threads:
        t.join(duration + TIMEOUT + 5)
    seconds = time.perf_counter() - began
    cpu = time.process_time() - cpu0
    latencies = sorted(x for t in threads for x in t.latencies)
    non2xx = sum(t.non2xx for t in threads)
    socket_errors = sum(t.socket_errors for t in threads)
    completed = len(latencies) + non2xx  # within [began, stop_at]: the rate is over `duration`
    return {
        "generator": "python",
        "requests": completed,
        "seconds": duration,
        "rps": completed / duration,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "errors": non2xx + socket_errors,
        "non2xx": non2xx,
        "socket_errors": socket_errors,
        "client_cpu": round(cpu / seconds, 3) if seconds > 0 else 0.0,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.loadgen", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("-c", "--connections", type=int, default=4)
    parser.add_argument("-d", "--duration", type=float, default=5.0, help="seconds")
    parser.add_argument(
        "-H", "--header", action="append", default=[], help='"Name: value", repeatable'
    )
    args = parser.parse_args(argv)
    headers = {}
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep:
            parser.error(f"header {h!r} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    result = run(args.url, args.connections, args.duration, headers)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

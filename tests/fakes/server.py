"""What the HTTP test intakes share: a threaded server on 127.0.0.1 that can
go down and come back on the same port (connections refused meanwhile,
open ones cut), scripted answers for the next requests, and waiting for
what was stored. A fake subclasses FakeServer, sets Handler (a FakeHandler
subclass; the fake is its .fake) and appends what it stores to .received
under _cond."""
import http.server
import socket
import threading
import time


class FakeServer:
    Handler = None

    def __init__(self, port=0):
        self.received = []
        self.rejected = []
        self.requests = []
        self.port = port
        self.url = None
        self._actions = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._conns = set()
        self._server = None
        self._thread = None

    # ---- life -------------------------------------------------------------

    def _listen(self):
        fake = self

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def process_request(self, request, client_address):
                with fake._lock:
                    fake._conns.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request):
                with fake._lock:
                    fake._conns.discard(request)
                super().shutdown_request(request)

        class Handler(self.Handler):
            pass

        Handler.fake = self
        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _close(self):
        if not self._server:
            return
        self._server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    def start(self):
        self._stop.clear()
        self._listen()
        return self

    def stop(self):
        self._stop.set()
        self._close()

    def down(self):
        """Stop listening (connections are refused) and cut open ones; the
        port is kept for up()."""
        self._close()

    def up(self):
        """Listen again on the same port."""
        if not self._server:
            self._listen()

    @property
    def is_up(self):
        return self._server is not None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- scripting --------------------------------------------------------

    def fail_next(self, n, status, retry_after=None, message=None):
        """Answer the next n requests with status (and Retry-After when
        given) before looking at them."""
        with self._lock:
            self._actions += [("fail", status, retry_after, message)] * n

    def hang_next(self, n, seconds=None):
        """Read the next n requests and answer nothing until seconds have
        passed (None: until the fake stops), then close the connection."""
        with self._lock:
            self._actions += [("hang", seconds)] * n

    def close_next(self, n):
        """Read the next n requests and close the connection unanswered."""
        with self._lock:
            self._actions += [("close",)] * n

    def wait_for(self, count, timeout=10.0):
        """Waits until count requests were stored; True if they were."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _next_action(self):
        with self._lock:
            return self._actions.pop(0) if self._actions else None


class FakeHandler(http.server.BaseHTTPRequestHandler):
    """What every fake's handler shares: HTTP/1.1, quiet, bodies read under
    a bound, answers with a Content-Length."""
    protocol_version = "HTTP/1.1"
    timeout = 120
    fake = None

    def log_message(self, fmt, *args):
        pass

    def _headers(self):
        return {k.lower(): v for k, v in self.headers.items()}

    def _read_body(self, limit):
        """The body by Content-Length or chunked; None when over limit (the
        rest is not read: the connection is closed after the answer)."""
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                if len(out) + size > limit:
                    return None
                out += self.rfile.read(size)
                self.rfile.readline(3)
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            return None
        return self.rfile.read(n) if n else b""

    def _answer(self, status, body=b"", ctype=None, extra=None):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

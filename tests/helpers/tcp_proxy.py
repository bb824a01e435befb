"""A TCP proxy the test controls: forwards to a target until frozen, then holds every byte.

Frozen, it keeps every connection open and its kernel keeps acknowledging what arrives, so the
peers see a link that is up but silent: what a half-open connection or a stuck middlebox looks
like to the side that cannot tell.
"""

from __future__ import annotations

import selectors
import socket
import threading
from types import TracebackType

from tests.helpers.processes import free_port


class TcpProxy:
    """Listens on a free port of 127.0.0.1 and forwards each connection to `target_port`."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", *, port: int = 0):
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._frozen = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def freeze(self) -> None:
        """Stop forwarding in both directions; connections stay open, new ones are accepted."""
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def close(self) -> None:
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            thread = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while not self._closed.is_set():
                if self._frozen.is_set():
                    # Nothing is read, so nothing is forwarded; the kernel still acknowledges.
                    self._closed.wait(0.05)
                    continue
                for key, _ in selector.select(timeout=0.05):
                    source = key.fileobj
                    assert isinstance(source, socket.socket)
                    try:
                        data = source.recv(65536)
                        if not data:
                            return self._hang_up(client, upstream)
                        peers[source].sendall(data)
                    except OSError:
                        return self._hang_up(client, upstream)
        return None

    @staticmethod
    def _hang_up(client: socket.socket, upstream: socket.socket) -> None:
        client.close()
        upstream.close()

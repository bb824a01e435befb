"""Which worker process of a live server holds a given keep-alive connection (Linux /proc)."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The parent pid is the second field after the command, which may hold spaces.
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _server_side_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the accepted socket whose peer is our client's port."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rpartition(":")[2], 16)
            remote_port = int(fields[2].rpartition(":")[2], 16)
            if local_port == server_port and remote_port == client_port:
                return fields[9]
    return None


def worker_of(server_pid: int, server_port: int, connection: http.client.HTTPConnection) -> int:
    """The pid of the process (below `server_pid`) that accepted this connection."""
    assert connection.sock is not None, "connect first"
    inode = _server_side_inode(server_port, connection.sock.getsockname()[1])
    assert inode is not None, "the server holds no socket for this connection"
    wanted = f"socket:[{inode}]"
    for pid in _descendants(server_pid):
        fds = Path(f"/proc/{pid}/fd")
        try:
            links = [os.readlink(fds / fd) for fd in os.listdir(fds)]
        except OSError:
            continue
        if wanted in links:
            return pid
    raise AssertionError(f"no process of server {server_pid} holds {wanted}")


def call(
    connection: http.client.HTTPConnection, method: str, path: str, token: str = ""
) -> tuple[int, str | None]:
    """One request on this kept-alive connection: the status and the error code, if any."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    error = None
    if response.status >= 400 and body.startswith(b"{"):
        error = json.loads(body).get("error")
    return response.status, error


def pinned_to_two_workers(
    server_pid: int, port: int, *, attempts: int = 80
) -> list[http.client.HTTPConnection]:
    """Two kept-alive connections, each served by a different worker process."""
    by_worker: dict[int, http.client.HTTPConnection] = {}
    spare: list[http.client.HTTPConnection] = []
    for _ in range(attempts):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        assert call(connection, "GET", "/healthz")[0] == 200
        pid = worker_of(server_pid, port, connection)
        if pid in by_worker:
            spare.append(connection)  # held open, so the next one may go elsewhere
        else:
            by_worker[pid] = connection
        if len(by_worker) == 2:
            break
    for connection in spare:
        connection.close()
    assert len(by_worker) == 2, f"{attempts} connections all reached one worker"
    return list(by_worker.values())

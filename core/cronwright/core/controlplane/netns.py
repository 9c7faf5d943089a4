"""Reaching into a network namespace from this process: commands, sockets, a loopback relay.

The real node lives in a network namespace of its own with no route out (node.py). Code
outside reaches it three ways:

- commands: ``nsenter --net=<ns> argv`` (kubectl, helm, ip). Not ``ip netns exec``: that
  remounts /sys and hides /sys/fs/cgroup.
- Python calls: :meth:`Netns.call` runs a function on a short-lived thread that first
  ``setns()``-es into the namespace (network namespaces are per thread). A socket keeps
  the namespace it was created in, so a server socket made there (a test receiver on the
  node IP) keeps serving from any thread, and an HTTP request made inside the call goes
  to the namespace's addresses (node IP, ClusterIPs, pod IPs).
- :class:`Relay`: a listener on 127.0.0.1 whose connections are forwarded to one address
  inside the namespace, for clients that cannot be moved (a kubeconfig for the Python
  client, a browser).

A namespace stays alive while a socket created in it is open: stop receivers and relays.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from cronwright.core.controlplane.cluster import LOOPBACK, die_with_parent

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns into the node's network namespace: {os.strerror(errno)}")


class Netns:
    """A network namespace, named by a path such as ``/proc/<pid>/ns/net``.

    The file is opened once, so the namespace stays reachable while this object is open,
    even between the start of its processes; :meth:`close` lets it go.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        self.inode = os.fstat(self._fd).st_ino

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """function(*args, **kwargs) on a thread inside the namespace; its result or exception."""
        if self._fd is None:
            raise RuntimeError("the network namespace is closed")
        fd = self._fd
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                _setns(fd)
                outcome["value"] = function(*args, **kwargs)
            except BaseException as error:
                outcome["error"] = error

        thread = threading.Thread(target=run, name="netns-call", daemon=True)
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def connect(self, host: str, port: int, timeout: float = 10.0) -> socket.socket:
        """A blocking TCP connection to host:port made inside the namespace (`timeout` bounds
        the connect only)."""
        sock = self.call(socket.create_connection, (host, port), timeout)
        sock.settimeout(None)
        return sock

    def command(self, argv: Sequence[str]) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 180,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """argv inside the namespace; output captured; failing with its stderr when check."""
        result = subprocess.run(
            self.command(argv),
            input=input,
            capture_output=True,
            text=True,
            env=dict(env) if env is not None else None,
            timeout=timeout,
            preexec_fn=die_with_parent,
            check=False,
        )
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, list(argv), result.stdout, result.stderr)
        return result

    def popen(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[bytes]:
        """A long-running argv inside the namespace (a port-forward, a watch), killed when the
        calling thread ends (PR_SET_PDEATHSIG follows the thread that forked it): call it
        from the thread that outlives it, as the test's own."""
        return subprocess.Popen(
            self.command(argv),
            env=dict(env) if env is not None else None,
            preexec_fn=die_with_parent,
            **kwargs,
        )


class Relay:
    """127.0.0.1:<port> on this machine, forwarded to host:port inside a namespace.

    Each accepted connection gets its own connection made inside the namespace and two
    threads copying bytes; :meth:`stop` closes the listener and every connection.
    """

    def __init__(self, netns: Netns, host: str, port: int) -> None:
        self.netns, self.target = netns, (host, port)
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, name=f"relay-{host}:{port}", daemon=True).start()

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            try:
                upstream = self.netns.connect(*self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._stopped:
                    client.close()
                    upstream.close()
                    return
                self._open |= {client, upstream}
            threading.Thread(target=self._serve, args=(client, upstream), daemon=True).start()

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        back = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        back.start()
        self._pump(client, upstream)
        back.join()
        with self._lock:
            self._open -= {client, upstream}
        client.close()
        upstream.close()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            sockets, self._open = self._open, set()
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

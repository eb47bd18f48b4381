"""hivectl's side of the control socket: JSON over HTTP over a unix socket."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

from gitops_hive.errors import ERRORS_BY_CODE, ControllerUnavailable, HiveError


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


class ControlClient:
    """Calls the controller's /api/ over R/run/control.sock."""

    def __init__(self, socket_path: Path, root: Path, timeout: float = 600.0) -> None:
        self.socket_path = socket_path
        self.root = root
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload else {}
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControllerUnavailable(
                f"no controller is running for {self.root}: start one with "
                f"`hivectl --root {self.root} serve`"
            ) from None
        except TimeoutError:
            raise HiveError(f"the controller did not answer within {self.timeout:g}s") from None
        finally:
            conn.close()
        content_type = response.getheader("Content-Type", "")
        if not content_type.startswith("application/json"):
            if response.status >= 400:
                raise HiveError(raw.decode("utf-8", "replace").strip())
            return raw.decode("utf-8", "replace")
        data = json.loads(raw)
        if response.status >= 400:
            error_type = ERRORS_BY_CODE.get(data.get("code", ""), HiveError)
            raise error_type(data.get("error", f"HTTP {response.status}"))
        return data

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body or {})

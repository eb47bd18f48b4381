"""The typed control client: one method per /api/ call, JSON over HTTP over R/run/control.sock."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode

from gitops_hive.errors import ERRORS_BY_CODE, ControllerUnavailable, HiveError
from gitops_hive.layout import HiveLayout

JSONObject = dict[str, Any]
DiffBase = Literal["deployed", "approved", "previous"]
DiffFormat = Literal["patch", "stat"]


def api_path(*parts: str | int, query: Mapping[str, str | None] | None = None) -> str:
    """`/api/` and `parts`, each quoted whole (a `/` in one stays inside it), then the query
    (None values left out, so callers pass optional parameters as they are)."""
    path = "/api/" + "/".join(quote(str(part), safe="") for part in parts)
    present = {key: value for key, value in (query or {}).items() if value is not None}
    return f"{path}?{urlencode(present)}" if present else path


def _notices(response: http.client.HTTPResponse) -> Iterator[JSONObject]:
    """The `data:` lines of a server-sent event stream, parsed, until it ends."""
    while raw := response.readline():
        line = raw.decode("utf-8", "replace")
        if line.startswith("data: "):
            yield json.loads(line[len("data: ") :])


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(str(self._path))
        except BaseException:
            sock.close()  # not yet self.sock, so close() would leave it open
            raise
        self.sock = sock


def _object(reply: Any, path: str) -> JSONObject:
    if not isinstance(reply, dict):
        raise HiveError(
            f"the controller answered {path} with {type(reply).__name__}, not an object"
        )
    return reply


def _objects(reply: Any, path: str) -> list[JSONObject]:
    if not isinstance(reply, list) or not all(isinstance(item, dict) for item in reply):
        raise HiveError(f"the controller answered {path} with something other than a list")
    return reply


class ControlClient:
    """Calls the controller's /api/ over R/run/control.sock; a refusal raises its HiveError."""

    def __init__(self, socket_path: Path, root: Path, timeout: float = 600.0) -> None:
        self.socket_path = socket_path
        self.root = root
        self.timeout = timeout

    @classmethod
    def of(cls, layout: HiveLayout) -> ControlClient:
        """A client of the control socket of the hive at `layout`."""
        return cls(layout.control_socket, layout.root)

    # The transport: every call goes through _request, which maps failures to HiveErrors.

    def _unavailable(self) -> ControllerUnavailable:
        return ControllerUnavailable(
            f"no controller is running for {self.root}: start one with "
            f"`hivectl --root {self.root} serve`"
        )

    def _request(self, method: str, path: str, body: JSONObject | None) -> Any:
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload else {}
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (FileNotFoundError, ConnectionRefusedError):
            raise self._unavailable() from None
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

    def _get(self, path: str) -> JSONObject:
        return _object(self._request("GET", path, None), path)

    def _get_list(self, path: str) -> list[JSONObject]:
        return _objects(self._request("GET", path, None), path)

    def _post(self, path: str, body: JSONObject | None = None) -> JSONObject:
        return _object(self._request("POST", path, body or {}), path)

    # The controller and its agents.

    def health(self) -> JSONObject:
        """`{"ok", "root"}` from a controller that answers."""
        return self._get(api_path("health"))

    def agents(self) -> list[JSONObject]:
        """Every agent with its status, commits and model."""
        return self._get_list(api_path("agents"))

    def agent(self, name: str) -> JSONObject:
        """One agent, with the tail of its log."""
        return self._get(api_path("agents", name))

    def draft(self, name: str) -> JSONObject:
        """Create `name`'s proposed/ repo from the template; the new agent."""
        return self._post(api_path("agents"), {"name": name})

    def spawn(self, name: str) -> JSONObject:
        """Draft `name` and submit it at once; the queued approval."""
        return self._post(api_path("agents"), {"name": name, "submit": True})

    def history(self, name: str) -> list[JSONObject]:
        """Every proposal of `name`, newest first."""
        return self._get_list(api_path("agents", name, "history"))

    def stop(self, name: str) -> JSONObject:
        """Stop `name`'s agent and keep it stopped."""
        return self._post(api_path("agents", name, "stop"))

    def start(self, name: str) -> JSONObject:
        """Start `name`'s deployed commit again."""
        return self._post(api_path("agents", name, "start"))

    def agent_log(self, name: str, lines: int, since: int | None = None) -> JSONObject:
        """`name`'s log: its last `lines`, or (with `since`) the whole lines after that byte."""
        query = {"lines": str(lines), "since": None if since is None else str(since)}
        return self._get(api_path("agents", name, "log", query=query))

    def install_hooks(self, names: list[str]) -> list[JSONObject]:
        """The notify hooks written again into these agents' proposed/ (none: every agent's)."""
        path = api_path("hooks", "install")
        return _objects(self._request("POST", path, {"agents": names}), path)

    # Approvals.

    def submit(self, name: str, ref: str | None = None) -> JSONObject:
        """Pin `ref` of `name`'s proposed/ (default: main) and queue it; the approval."""
        return self._post(api_path("agents", name, "submit"), {"ref": ref})

    def pending(self) -> list[JSONObject]:
        """The approvals waiting for a decision, oldest first."""
        return self._get_list(api_path("approvals", query={"status": "pending"}))

    def approval(self, approval_id: int) -> JSONObject:
        """One approval, with its build log."""
        return self._get(api_path("approvals", approval_id))

    def diff(
        self,
        approval_id: int,
        base: DiffBase = "deployed",
        fmt: DiffFormat = "patch",
        file: str | None = None,
    ) -> str:
        """An approval's diff against `base`, as a patch or a stat, as the terminal shows it;
        with `file` (a path in the commits), that one file's diff, in full."""
        query = {"base": base, "format": fmt, "path": file}
        url = api_path("approvals", approval_id, "diff", query=query)
        reply = self._request("GET", url, None)
        if not isinstance(reply, str):
            raise HiveError(f"the controller answered {url} with JSON, not text")
        return reply

    def approve(self, approval_id: int, sha: str, wait: bool = True) -> JSONObject:
        """Approve naming the reviewed sha; with `wait`, the outcome of the build."""
        return self._post(api_path("approvals", approval_id, "approve"), {"sha": sha, "wait": wait})

    def approve_showing_progress(
        self, approval_id: int, sha: str, on_line: Callable[[str], None]
    ) -> JSONObject:
        """Approve, pass each line of the build's progress to `on_line` as it comes, and
        return the approval once its build ended."""
        ended = ("deployed", "failed", "superseded")
        with self.notices() as notices:
            self.approve(approval_id, sha, wait=False)
            for notice in notices:
                if notice.get("id") != approval_id:
                    continue
                if notice["kind"] == "build":
                    on_line(str(notice.get("line", "")))
                elif notice["kind"] == "approval" and notice.get("status") in ended:
                    break
        return self.approval(approval_id)

    @contextlib.contextmanager
    def notices(self) -> Iterator[Iterator[JSONObject]]:
        """The controller's change notices (/api/events), from the moment this returns."""
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            try:
                conn.request("GET", "/api/events")
                response = conn.getresponse()
            except (FileNotFoundError, ConnectionRefusedError):
                raise self._unavailable() from None
            response.readline()  # "retry:": the server subscribed before sending it
            yield _notices(response)
        finally:
            conn.close()

    def deny(self, approval_id: int, reason: str) -> JSONObject:
        """Deny with a reason, which reaches the manager."""
        return self._post(api_path("approvals", approval_id, "deny"), {"reason": reason})

    def rollback(self, name: str, to: str | None = None) -> JSONObject:
        """Deploy an earlier deployment's tree (default: the one before); the decided approval."""
        return self._post(api_path("agents", name, "rollback"), {"to": to})

    def resume(self, name: str) -> JSONObject:
        """Let the watcher submit `name` again: `{"resumed", "submitted"}`."""
        return self._post(api_path("agents", name, "resume"))

    # Models.

    def model(self, name: str) -> JSONObject:
        """`name`'s effective model, where it comes from, and its switches."""
        return self._get(api_path("agents", name, "model"))

    def set_model(self, name: str, model: str, reason: str | None = None) -> JSONObject:
        """Override `name`'s model from its next turn on; the new status."""
        return self._post(api_path("agents", name, "model"), {"model": model, "reason": reason})

    def clear_model(self, name: str, reason: str | None = None) -> JSONObject:
        """Drop `name`'s override: agent.toml's model or the default again; the new status."""
        return self._post(api_path("agents", name, "model"), {"clear": True, "reason": reason})

    def terminal_ticket(self, name: str) -> JSONObject:
        """A one-time ticket (30 s) for a terminal into `name`: `ticket`, `isolated`, `where`."""
        return self._post(api_path("agents", name, "terminal"))

    def terminal_path(self, name: str, ticket: str, cols: int, rows: int) -> str:
        """The WebSocket path that spends `ticket`."""
        query = {"ticket": ticket, "cols": str(cols), "rows": str(rows)}
        return api_path("agents", name, "terminal", "ws", query=query)

    # Messages and questions.

    def send(self, to: str, body: str) -> JSONObject:
        """Put `body` in `to`'s inbox, from the operator; the stored message."""
        return self._post(api_path("messages"), {"to": to, "body": body})

    def inbox(self, name: str, wait: float = 0.0) -> JSONObject:
        """`name`'s unread messages, left unread, waiting up to `wait` seconds for one."""
        return self._get(api_path("agents", name, "inbox", query={"wait": f"{wait:g}"}))

    def questions(self, include_answered: bool = False) -> list[JSONObject]:
        """The manager's open questions (or all of them), newest first."""
        return self._get_list(
            api_path("questions", query={"all": "1" if include_answered else None})
        )

    def answer(self, question_id: int, text: str) -> JSONObject:
        """Answer a question; the answer lands in the asker's inbox."""
        return self._post(api_path("questions", question_id, "answer"), {"answer": text})

    # Telemetry.

    def stats(
        self,
        agent: str,
        since: str | None = None,
        until: str | None = None,
        keys: tuple[str, ...] | None = None,
    ) -> JSONObject:
        """`agent`'s telemetry over the window (the controller's default: the last hour)."""
        query = {"agent": agent, "since": since, "until": until}
        query["keys"] = ",".join(keys) if keys is not None else None
        return self._get(api_path("stats", query=query))

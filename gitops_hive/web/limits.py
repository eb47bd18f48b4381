"""What one listener allows its peers (connections, seconds to send a request), and the
answers that end a connection which went past it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from gitops_hive.config import HiveConfig
from gitops_hive.errors import HiveError, LimitExceeded, RequestTimeout

# A whole answer written on a connection that ends with it: status, length, JSON body.
_ANSWER = (
    b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)


@dataclass(frozen=True)
class ListenerLimits:
    """What one listener allows its peers, and the settings that say so."""

    name: str  # whose listener, in log lines: "agent worker", "dashboard", "control socket"
    connections: int  # open at once; more are answered 503 and closed at once
    connections_setting: str
    head_timeout: float  # seconds to send a request's line and headers
    body_timeout: float  # seconds to send its body, once the head is in

    @classmethod
    def of(cls, config: HiveConfig, name: str, connections_setting: str) -> ListenerLimits:
        """The limits hive.toml sets for the listener `name`."""
        return cls(
            name=name,
            connections=config[connections_setting],
            connections_setting=connections_setting,
            head_timeout=config["limits.request_head_timeout"],
            body_timeout=config["limits.request_body_timeout"],
        )

    def over_cap(self) -> bytes:
        """The whole HTTP answer to a connection past the cap."""
        return answer(
            b"503 Service Unavailable",
            LimitExceeded(
                f"{self.name} has {self.connections} connections open, as many as "
                f"{self.connections_setting} allows: close one and retry"
            ),
        )

    def body_too_slow(self) -> bytes:
        """The whole HTTP answer to a request whose body did not arrive in time."""
        return answer(
            b"408 Request Timeout",
            RequestTimeout(
                f"the request body did not arrive within {self.body_timeout:g} s "
                "(limits.request_body_timeout): send it at once"
            ),
        )


def answer(status: bytes, error: HiveError) -> bytes:
    """`error` as a whole HTTP/1.1 answer that closes its connection."""
    body = json.dumps({"error": error.message, "code": error.code}).encode()
    return _ANSWER % (status, len(body), body)

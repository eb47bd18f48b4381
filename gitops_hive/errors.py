"""The one error tree: every failure a user can cause is a HiveError with a one-line message."""

from __future__ import annotations


class HiveError(Exception):
    """A failure to report in one line; `status` is the HTTP status the API answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidName(HiveError):
    """An agent name that does not match the one allowed pattern."""

    code = "invalid_name"


class NotFound(HiveError):
    """An agent, approval or commit that does not exist."""

    status = 404
    code = "not_found"


class Conflict(HiveError):
    """A request that the current state refuses (already decided, sha mismatch, exists)."""

    status = 409
    code = "conflict"


class InvalidProposal(HiveError):
    """A proposal that failed validation and so cannot be approved."""

    status = 422
    code = "invalid_proposal"


class ConfigError(HiveError):
    """hive.toml is missing, unreadable or wrong."""

    code = "config"


class ControllerUnavailable(HiveError):
    """No controller answers on the control socket."""

    status = 503
    code = "controller_unavailable"


class Forbidden(HiveError):
    """A caller asking for something its identity does not allow."""

    status = 403
    code = "forbidden"


class LimitExceeded(HiveError):
    """A message too large, an inbox too full: the sender must wait or send less."""

    status = 413
    code = "limit_exceeded"


class RequestTimeout(HiveError):
    """A request whose head or body did not arrive within its deadline (a slow peer)."""

    status = 408
    code = "request_timeout"


class SystemLimit(HiveError):
    """The operating system allows the controller fewer open files than the hive needs."""

    status = 503
    code = "system_limit"


class RepoUnreadable(HiveError):
    """A git repo that libgit2 cannot read as asked: damaged, truncated or hostile."""

    status = 422
    code = "repo_unreadable"


class RuntimeFailure(HiveError):
    """An agent could not be started; `log` holds what it printed."""

    status = 500
    code = "runtime_failure"

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


class IllegalTransition(HiveError):
    """A move the approval state machine forbids: a controller bug, never user input."""

    status = 500
    code = "illegal_transition"


class SystemdError(HiveError):
    """systemd refused a call (the D-Bus error's name and text say why)."""

    status = 500
    code = "systemd"


ERRORS_BY_CODE: dict[str, type[HiveError]] = {
    cls.code: cls
    for cls in (
        HiveError,
        InvalidName,
        NotFound,
        Conflict,
        InvalidProposal,
        ConfigError,
        Forbidden,
        LimitExceeded,
        RequestTimeout,
        SystemLimit,
        ControllerUnavailable,
        RepoUnreadable,
        RuntimeFailure,
        IllegalTransition,
        SystemdError,
    )
}

"""One-time tickets for a terminal's WebSocket: issued by a POST, used once, valid briefly."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from gitops_hive.errors import Forbidden
from gitops_hive.sessions import digest

TICKET_SECONDS = 30.0


@dataclass(frozen=True)
class Ticket:
    """Who may open a terminal into which agent, from which login, until when."""

    agent: str
    who: str
    login: str | None  # a hash of the dashboard session; None for the control socket
    expires: float


class TicketBook:
    """Tickets kept only as hashes; taking one removes it, valid or not."""

    def __init__(
        self, ttl: float = TICKET_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._tickets: dict[str, Ticket] = {}

    def issue(self, agent: str, who: str, login: str | None) -> str:
        """A new ticket for `agent`; expired ones are dropped on the way."""
        now = self.clock()
        self._tickets = {k: t for k, t in self._tickets.items() if t.expires > now}
        token = secrets.token_urlsafe(32)
        self._tickets[digest(token)] = Ticket(agent, who, login, now + self.ttl)
        return token

    def take(self, token: str, agent: str, login: str | None) -> Ticket:
        """The ticket, spent; refused when unknown, used, expired, or for another agent or login."""
        ticket = self._tickets.pop(digest(token), None)
        if ticket is None or ticket.expires <= self.clock():
            raise Forbidden("terminal ticket unknown, used or expired: open the terminal again")
        if ticket.agent != agent or ticket.login != login:
            raise Forbidden("terminal ticket issued for another agent or login: open it again")
        return ticket

"""The operator's terminal into an agent: one-time tickets, live sessions, output guards."""

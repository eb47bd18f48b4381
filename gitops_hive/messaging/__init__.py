"""Messages: the broker's inboxes, who may message whom, questions and notices to the manager."""

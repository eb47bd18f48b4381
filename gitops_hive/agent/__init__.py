"""What runs inside an agent's container: the harness, compaction, the socket client, hive-mcp.

Of the rest of the package it imports only `gitops_hive.protocol`, so a container never loads
the controller (tests/test_protocol.py checks it)."""

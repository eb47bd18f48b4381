"""What runs inside an agent's container: the harness, compaction, the socket client, hive-mcp."""

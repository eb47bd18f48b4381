"""Deploying an approved commit: build, launch, rollback with the health gate, recovery."""

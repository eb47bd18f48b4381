"""Approvals: the rules of the state machine, submitting, deciding, and the review's read models."""

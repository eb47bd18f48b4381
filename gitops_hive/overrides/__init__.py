"""Model overrides as git notes: the note, the effective model, the operator's and the manager's."""

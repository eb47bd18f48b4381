"""Push to create: a push to the hive's push target drafts an agent or moves its proposed/."""

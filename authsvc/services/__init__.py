"""Use cases that know no HTTP: login, logout, users, the audit trail."""

"""Passwords: hashing behind a small Protocol, and the policy new passwords must meet."""

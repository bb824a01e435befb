"""Signing keys: generation, encryption at rest, the ring, its lifecycle and its refresh."""

"""How a revocation reaches every check: token-version sources, push channels, the cache."""

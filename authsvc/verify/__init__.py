"""The downstream verifier: validates authsvc tokens without calling authsvc."""

"""Rate limits on password guessing, counted in a `limits` storage (memory or Redis)."""

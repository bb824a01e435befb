"""Rate limits on password guessing and sign-up probing, counted in a `limits` storage."""

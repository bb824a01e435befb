"""Token formats: signed access tokens (JWT) and opaque refresh tokens."""

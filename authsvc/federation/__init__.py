"""Signing in with external identity providers: OpenID Connect by discovery, and GitHub."""

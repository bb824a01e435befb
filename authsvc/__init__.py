"""authsvc: stateless JWT authentication with HttpOnly cookies and token-version revocation."""

__version__ = "0.1.0"

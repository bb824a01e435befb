"""Multi-factor sign-in: TOTP factors, recovery codes, the second login step and step-up."""

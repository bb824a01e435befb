"""Mail: addresses, the SMTP relay, messages rendered from templates, and the background outbox.

`address` and `smtp` are plain parsing and sending on the standard library and
`email-validator`, so that the settings can validate what an operator wrote with them.
"""

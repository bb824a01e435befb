"""Code the tests share, one module per purpose (fixtures themselves live in tests/conftest.py).

defaults       the password, key-encryption secret and issuer every test agrees on
fixture_types  the types of conftest's factory fixtures (client_factory, make_user, ...)
clock          FakeClock, moved by hand
suites         skipping a suite whose service (PostgreSQL, Redis, nginx) is absent, loudly
waiting        polling for what another thread or process does
database       set-up straight in the test database (users, statements, truncation)
login          logging in: in-process async client, synchronous clients, live servers
sessions       using a session: status, refresh, logout everywhere, Device (one browser)
cookies        reading Set-Cookie: names, attributes, the tokens they carry
headers        bearer and CSRF (Origin + X-CSRF-Token) headers, a same-origin SPA client
csrf           the origins and header of CSRF tests, what a refused request leaves alone
keys           kids, the JWKS, a strictly caching downstream JWKS client
forged         tokens the service did not issue (minted with its key, or a stranger's)
token_attacks  the catalogue of forged and malformed tokens every verifier must refuse
asgi           an ASGI app with its lifespan behind a synchronous client
verifiers      TokenVerifiers and their HTTP clients against an in-process authsvc
push           token-version push channels: a recording handler, channel killers
cli            the `authsvc` command, as a child process or in-process
mail           a real SMTP server (aiosmtpd) that keeps what it receives, and the links in it
processes      free ports and real server processes, stopped by PID
fleet          authsvc instances behind nginx, and a throw-away PostgreSQL cluster
load           continuous load on a fleet, every answer recorded
key_race       one instance's key lifecycle, run in child processes by a race test
paths          where the repository is
"""

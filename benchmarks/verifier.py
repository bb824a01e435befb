"""The downstream verifier's cost per token, against PyJWT's bare `decode` of the same tokens.

Usage:
    python benchmarks/verifier.py [--cold N] [--warm N] [--postgres-url URL | --no-postgres]
                                  [--redis-url URL | --no-redis]

For each token-version source (database on SQLite and PostgreSQL, introspection over HTTP,
push-invalidated caches over PostgreSQL NOTIFY and Redis pub/sub) it measures, in one run:
    cold  N distinct tokens never seen before (signature check + claims + version check)
    warm  one token seen before, N times (verified-token cache + version check)
and reports microseconds per token and the ratio to `jwt.decode` (ES256, same tokens, same
run). A real `authsvc serve` (a subprocess on 127.0.0.1, stopped by its PID) publishes the JWKS
and answers introspection. PostgreSQL: only the database `authsvc_bench_verifier` is used (created
when missing, its tables emptied); Redis: PUBLISH/SUBSCRIBE only, no keys are written.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from goals import goal_line
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from authsvc.keys.encryption import KeyEncryptor
from authsvc.keys.lifecycle import ensure_active_key
from authsvc.keys.ring import KeyRing
from authsvc.passwords.hashing import Argon2Hasher
from authsvc.services.introspection import new_client_secret
from authsvc.services.users import NewUser, create_user
from authsvc.storage.engine import make_engine, make_session_factory
from authsvc.storage.migrations import upgrade_database
from authsvc.tokens.access import Grant, TokenPolicy, issue_access_token
from authsvc.verify import (
    DatabaseSource,
    IntrospectionSource,
    PostgresPushListener,
    PushCachedSource,
    RedisPushListener,
    TokenVerifier,
    TokenVersionSource,
)

ISSUER = "http://authsvc.bench"
AUDIENCE = "authsvc"
SECRET = "benchmark-key-encryption-secret-0123456789"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/authsvc_bench_verifier"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
RUNS = 3
# The ratios: this many turns of decode, cold and warm, each over a batch of this many tokens.
RATIO_ROUNDS = 15
RATIO_BATCH = 200
# The verifier's own cost against PyJWT's decode of the same token: what it may add.
COLD_TARGET = 1.2
WARM_TARGET = 0.02


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def prepare_postgres(url: str) -> str:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        ).first()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    upgrade_database(url)
    engine = make_engine(url)
    tables = [name for name in inspect(engine).get_table_names() if name != "alembic_version"]
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
    engine.dispose()
    return url


def seed(database_url: str, count: int) -> tuple[str, list[str]]:
    """A user and `count` distinct access tokens for it, signed by the database's active key."""
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    try:
        with make_session_factory(engine)() as db:
            encryptor = KeyEncryptor(SECRET)
            ensure_active_key(db, encryptor, "ES256", now)
            ring = KeyRing.load(db, encryptor)
            user = create_user(
                db,
                Argon2Hasher(memory_cost=1024, time_cost=1),
                NewUser(f"bench-{time.time_ns()}", "benchmark password", roles=["staff"]),
                now=now,
            )
            db.commit()
            user_id = user.id
    finally:
        engine.dispose()
    assert ring.signer is not None
    policy = TokenPolicy(issuer=ISSUER, audience=AUDIENCE)
    tokens = [
        issue_access_token(
            ring.signer,
            policy,
            Grant(user_id, "bench-session", 0, ("staff",)),
            now=now,
            lifetime=timedelta(minutes=15),
        )[0]
        for _ in range(count)
    ]
    return user_id, tokens


@contextmanager
def authsvc_server(database_url: str, env: dict[str, str], workdir: Path) -> Iterator[str]:
    port = free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")},
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_KEY_ENCRYPTION_SECRET": SECRET,
        "AUTHSVC_ISSUER": ISSUER,
        "AUTHSVC_PORT": str(port),
        "AUTHSVC_LOG_LEVEL": "warning",
        **env,
    }
    log = (workdir / f"authsvc-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "authsvc", "serve"], env=full_env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while not answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"authsvc did not start; see {log.name}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def per_token_us(run: Callable[[], int], runs: int = RUNS) -> float:
    """The best of `runs` runs, in microseconds per token (the least disturbed measurement)."""
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        count = run()
        timings.append((time.perf_counter() - start) / count * 1e6)
    return min(timings)


def measure(
    name: str,
    source_factory: Callable[[], TokenVersionSource],
    jwks_url: str,
    tokens: list[str],
    warm_count: int,
) -> dict[str, Any]:
    def fresh_verifier() -> TokenVerifier:
        verifier = TokenVerifier(ISSUER, versions=source, audience=AUDIENCE, jwks_url=jwks_url)
        verifier.verify(tokens[0])  # the JWKS fetch and the first version read are not timed
        return verifier

    source = source_factory()
    try:
        if isinstance(source, PushCachedSource) and not source.up.wait(10):
            raise RuntimeError(f"{name}: the push channel did not come up")
        cold_tokens = tokens[1:]
        # One fresh verifier per timed run, made before the clock starts.
        cold_verifiers = [fresh_verifier() for _ in range(RUNS)]

        def cold() -> int:
            verifier = cold_verifiers.pop()
            for token in cold_tokens:
                verifier.verify(token)
            return len(cold_tokens)

        warm_verifier = fresh_verifier()

        def warm() -> int:
            token = tokens[0]
            for _ in range(warm_count):
                warm_verifier.verify(token)
            return warm_count

        return {"source": name, "cold_us": per_token_us(cold), "warm_us": per_token_us(warm)}
    finally:
        source.close()


class MemoryVersions:
    """Every user at version 0: the verifier's own cost, apart from where versions live."""

    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        return 0

    def close(self) -> None:
        pass


def verifier_ratios(
    tokens: list[str], jwks_url: str, jwks: dict[str, Any], warm_count: int
) -> tuple[float, float, float]:
    """PyJWT's decode, the verifier's cold path and its warm path (us per token), in many short
    runs taken in turn, so that a busy neighbour slows all three alike; the best of each."""
    key = jwt.PyJWK(jwks["keys"][0]).key
    batch = tokens[1 : 1 + RATIO_BATCH]

    def decode() -> int:
        for token in batch:
            jwt.decode(token, key, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER)
        return len(batch)

    def fresh_verifier() -> TokenVerifier:
        verifier = TokenVerifier(
            ISSUER, versions=MemoryVersions(), audience=AUDIENCE, jwks_url=jwks_url
        )
        verifier.verify(tokens[0])
        return verifier

    def cold() -> int:
        verifier = cold_verifiers.pop()  # has seen none of the batch
        for token in batch:
            verifier.verify(token)
        return len(batch)

    warm_verifier = fresh_verifier()
    warm_batch = max(1, warm_count // RATIO_ROUNDS)

    def warm() -> int:
        for _ in range(warm_batch):
            warm_verifier.verify(tokens[0])
        return warm_batch

    cold_verifiers = [fresh_verifier() for _ in range(RATIO_ROUNDS)]
    best = {decode: float("inf"), cold: float("inf"), warm: float("inf")}
    for _ in range(RATIO_ROUNDS):
        for run in best:
            best[run] = min(best[run], per_token_us(run, runs=1))
    return best[decode], best[cold], best[warm]


def baseline_us(tokens: list[str], jwks: dict[str, Any]) -> float:
    key = jwt.PyJWK(jwks["keys"][0]).key

    def decode() -> int:
        for token in tokens:
            jwt.decode(token, key, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER)
        return len(tokens)

    return per_token_us(decode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cold", type=int, default=1000, help="distinct tokens per cold run")
    parser.add_argument("--warm", type=int, default=20000, help="verifications per warm run")
    parser.add_argument("--http-count", type=int, default=200, help="tokens for introspection")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()

    use_postgres = not args.no_postgres and answers(make_url(args.postgres_url).port or 5432)
    use_redis = not args.no_redis and answers(6379)
    workdir = Path(tempfile.mkdtemp(prefix="authsvc-bench-verifier-"))
    sqlite_url = f"sqlite:///{workdir / 'authsvc.db'}"
    upgrade_database(sqlite_url)
    main_url = prepare_postgres(args.postgres_url) if use_postgres else sqlite_url

    client_secret, digest = new_client_secret()
    env = {"AUTHSVC_INTROSPECTION_CLIENTS": f"bench:{digest}"}
    if use_redis:
        env["AUTHSVC_REDIS_URL"] = args.redis_url
    _, tokens = seed(main_url, args.cold + 1)
    _, sqlite_tokens = seed(sqlite_url, args.cold + 1)
    results = []
    with (
        authsvc_server(main_url, env, workdir) as url,
        authsvc_server(sqlite_url, {}, workdir) as sqlite_server,
    ):
        jwks_url, sqlite_jwks_url = (
            f"{url}/.well-known/jwks.json",
            f"{sqlite_server}/.well-known/jwks.json",
        )
        import urllib.request

        with urllib.request.urlopen(jwks_url) as response:
            jwks = json.load(response)
        baseline = baseline_us(tokens[1:], jwks)
        ratios = verifier_ratios(tokens, jwks_url, jwks, args.warm)
        results.append(
            measure(
                "database (SQLite)",
                lambda: DatabaseSource(sqlite_url),
                sqlite_jwks_url,
                sqlite_tokens,
                args.warm,
            )
        )
        if use_postgres:
            results.append(
                measure(
                    "database (PostgreSQL)",
                    lambda: DatabaseSource(main_url),
                    jwks_url,
                    tokens,
                    args.warm,
                )
            )
            results.append(
                measure(
                    "push cache (PostgreSQL NOTIFY)",
                    lambda: PushCachedSource(
                        DatabaseSource(main_url), PostgresPushListener(main_url)
                    ),
                    jwks_url,
                    tokens,
                    args.warm,
                )
            )
        if use_redis:
            results.append(
                measure(
                    "push cache (Redis pub/sub)",
                    lambda: PushCachedSource(
                        DatabaseSource(main_url), RedisPushListener(args.redis_url)
                    ),
                    jwks_url,
                    tokens,
                    args.warm,
                )
            )
        results.append(
            measure(
                "introspection (HTTP)",
                lambda: IntrospectionSource(f"{url}/introspect", "bench", client_secret),
                jwks_url,
                tokens[: args.http_count + 1],
                args.http_count,
            )
        )

    print(f"PyJWT jwt.decode (ES256, same tokens): {baseline:8.2f} us/token  (ratio 1.00)")
    print(f"{'source':34} {'cold us':>9} {'ratio':>7} {'warm us':>9} {'ratio':>8}")
    for row in results:
        print(
            f"{row['source']:34} {row['cold_us']:9.2f} {row['cold_us'] / baseline:7.2f}"
            f" {row['warm_us']:9.2f} {row['warm_us'] / baseline:8.4f}"
        )
    decode_us, cold_us, warm_us = ratios
    print(
        f"verifier with in-memory versions: decode {decode_us:.2f} us, cold {cold_us:.2f} us,"
        f" warm {warm_us:.2f} us (timed in alternation)"
    )
    print(goal_line("verifier cold path / PyJWT decode", cold_us / decode_us, "<=", COLD_TARGET))
    print(goal_line("verifier warm path / PyJWT decode", warm_us / decode_us, "<=", WARM_TARGET))


if __name__ == "__main__":
    main()

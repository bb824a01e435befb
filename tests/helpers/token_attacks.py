"""A catalogue of forged and malformed access tokens (RFC 8725, RFC 9068), each of which every
verifier must refuse. Built from the service's real key, so that each token differs from a
valid one in exactly the aspect it attacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from authsvc.tokens.access import REQUIRED_CLAIMS


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


AttackedKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass
class Material:
    """What the attacker works from: a valid token, its parts, and (for the tests) our key."""

    token: str
    header: dict[str, Any]
    payload: dict[str, Any]
    private_key: AttackedKey
    jwk: dict[str, Any]
    jku_url: str

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
        return self.private_key.public_key()

    def sign(self, payload: dict[str, Any] | None = None, /, **header: Any) -> str:
        """Signed with OUR key: only the deliberate defect can make it fail."""
        headers = {**self.header, **header}
        headers = {name: value for name, value in headers.items() if value is not _DROP}
        signing_input = (
            f"{b64json(headers)}.{b64json(self.payload if payload is None else payload)}"
        )
        return f"{signing_input}.{b64(self._raw_signature(signing_input.encode()))}"

    def claims(self, **changes: Any) -> dict[str, Any]:
        payload = {**self.payload, **changes}
        return {name: value for name, value in payload.items() if value is not _DROP}

    def _raw_signature(self, data: bytes, digest: hashes.HashAlgorithm | None = None) -> bytes:
        key = self.private_key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        der = key.sign(data, ec.ECDSA(digest or hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


_DROP = object()


def _hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _attacker_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _attacker_signed(material: Material, **header: Any) -> str:
    key = _attacker_key()
    extra = {name: (value(key) if callable(value) else value) for name, value in header.items()}
    headers = {name: value for name, value in material.header.items() if name != "alg"}
    return jwt.encode(material.payload, key, algorithm="ES256", headers={**headers, **extra})


def _jwk_of(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return jwk


def _self_signed_cert(key: ec.EllipticCurvePrivateKey) -> list[str]:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authsvc.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]


def _public_key_forms(material: Material) -> dict[str, bytes]:
    """Our public key as an attacker finds it: JWKS, PEM, DER, the raw point or modulus, SSH."""
    public = material.public_key
    forms = {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "openssh": public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ),
        "jwk": json.dumps(material.jwk).encode(),
        "jwk-sorted": json.dumps(material.jwk, sort_keys=True, separators=(",", ":")).encode(),
    }
    if isinstance(public, rsa.RSAPublicKey):
        forms["pkcs1-pem"] = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        )
        forms["pkcs1-der"] = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
    else:
        # PKCS#1 exists for RSA only; the EC counterpart is the bare X9.62 point.
        forms["x962-point"] = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return forms


def catalogue(material: Material) -> dict[str, str]:
    """name -> token; every one must be refused with 401."""
    m = material
    head, body, signature = m.token.split(".")
    tokens: dict[str, str] = {}

    for alg in ("none", "None", "NONE", "nOnE"):
        unsigned = f"{b64json({**m.header, 'alg': alg})}.{body}"
        tokens[f"alg-{alg}-empty-signature"] = unsigned + "."
        tokens[f"alg-{alg}-with-signature"] = f"{unsigned}.{signature}"
        tokens[f"alg-{alg}-no-signature-part"] = unsigned
    tokens["empty-signature"] = f"{head}.{body}."
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    tokens["altered-signature"] = f"{head}.{body}.{flipped}"
    tokens["truncated-signature"] = f"{head}.{body}.{signature[:-4]}"
    tokens["altered-payload"] = f"{head}.{b64json(m.claims(roles=['admin']))}.{signature}"
    tokens["altered-header"] = f"{b64json({**m.header, 'x': 1})}.{body}.{signature}"
    tokens["all-zero-signature"] = f"{head}.{body}.{b64(bytes(len(signature) * 3 // 4))}"
    if isinstance(m.private_key, ec.EllipticCurvePrivateKey):
        der = m.private_key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
        tokens["der-encoded-es256-signature"] = f"{head}.{body}.{b64(der)}"

    for form, secret in _public_key_forms(m).items():
        for kid in (m.header["kid"], _DROP):
            header = {**m.header, "alg": "HS256"}
            if kid is _DROP:
                del header["kid"]
            suffix = "" if kid is not _DROP else "-no-kid"
            tokens[f"hs256-with-public-key-{form}{suffix}"] = _hs256(header, m.payload, secret)

    tokens["attacker-key-in-jwk-header"] = _attacker_signed(m, jwk=_jwk_of)
    tokens["attacker-key-in-jwk-header-own-kid"] = _attacker_signed(m, jwk=_jwk_of, kid="attacker")
    tokens["attacker-key-in-x5c-header"] = _attacker_signed(m, x5c=_self_signed_cert)
    tokens["jku-to-local-listener"] = _attacker_signed(m, jku=m.jku_url)
    tokens["jku-to-local-listener-own-kid"] = _attacker_signed(m, jku=m.jku_url, kid="attacker")
    tokens["x5u-to-local-listener"] = _attacker_signed(m, x5u=m.jku_url)
    tokens["our-key-signed-jku-to-listener"] = m.sign(jku=m.jku_url, kid="attacker")

    for name, kid in {
        "path-traversal": "../../../../../../dev/null",
        "absolute-path": "/etc/passwd",
        "sql": "x' UNION SELECT 'secret' --",
        "shell": "$(touch /tmp/authsvc-pwned);`id`",
        "10kb": "A" * 10240,
        "empty": "",
        "integer": 1,
        "null": None,
        "list": [m.header["kid"]],
        "object": {"kid": m.header["kid"]},
        "missing": _DROP,
    }.items():
        tokens[f"kid-{name}"] = m.sign(kid=kid)

    tokens["crit-unknown"] = m.sign(crit=["x-unknown"], **{"x-unknown": True})
    tokens["crit-exp"] = m.sign(crit=["exp"])
    tokens["crit-b64-false"] = m.sign(crit=["b64"], b64=False)
    jwe_header = b64json({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": m.header["kid"]})
    tokens["jwe-compact"] = f"{jwe_header}.{b64(b'k' * 32)}.{b64(b'iv')}.{body}.{b64(b't' * 16)}"
    tokens["jws-general-json"] = json.dumps(
        {"payload": body, "signatures": [{"protected": head, "signature": signature}]}
    )
    tokens["jws-flattened-json"] = json.dumps(
        {"payload": body, "protected": head, "signature": signature}
    )
    tokens["two-tokens-joined"] = f"{m.token}.{m.token}"

    for typ in ("JWT", "jwt", "refresh+jwt", "application/jwt", "at+jwt ", "at+JWS", _DROP, 1):
        tokens[f"typ-{typ if typ is not _DROP else 'missing'}"] = m.sign(typ=typ)
    tokens["opaque-refresh-token"] = secrets.token_urlsafe(32)
    tokens["refresh-shaped-jws"] = m.sign(
        m.claims(token_use="refresh", typ="refresh"), typ="refresh+jwt"
    )

    for alg, digest in (("ES384", hashes.SHA384()), ("ES512", hashes.SHA512())):
        if isinstance(m.private_key, ec.EllipticCurvePrivateKey):
            headers = {**m.header, "alg": alg}
            signing_input = f"{b64json(headers)}.{body}"
            raw = m._raw_signature(signing_input.encode(), digest)
            tokens[f"alg-{alg}-with-our-key"] = f"{signing_input}.{b64(raw)}"
    for alg in {"ES256", "RS256", "PS256", "EdDSA", "ES256K", "HS512", "es256"} - {m.header["alg"]}:
        tokens[f"alg-{alg}-header-our-signature"] = m.sign(alg=alg)

    for claim in REQUIRED_CLAIMS:
        tokens[f"missing-{claim}"] = m.sign(m.claims(**{claim: _DROP}))
    exp = m.payload["exp"]
    for claim in ("exp", "nbf", "iat"):
        value = m.payload[claim]
        for name, bad in {
            "string": str(value),
            "null": None,
            "list": [value],
            "object": {"t": value},
            "bool": True,
        }.items():
            tokens[f"{claim}-as-{name}"] = m.sign(m.claims(**{claim: bad}))
    tokens["expired"] = m.sign(m.claims(exp=m.payload["iat"] - 3600))
    tokens["not-yet-valid"] = m.sign(m.claims(nbf=exp + 3600))
    tokens["issued-in-the-future"] = m.sign(m.claims(iat=exp + 3600))
    issuer = m.payload["iss"]
    for name, iss in {
        "prefix": issuer[:-1],
        "suffix": issuer + ".evil.example",
        "path": issuer + "/evil",
        "other-scheme": issuer.replace("http://", "https://"),
        "list": [issuer],
        "list-with-other": [issuer, "https://evil.example"],
        "null": None,
        "missing": _DROP,
    }.items():
        tokens[f"iss-{name}"] = m.sign(m.claims(iss=iss))
    audience = m.payload["aud"]
    for name, aud in {
        "foreign": "https://other.example",
        "foreign-list": ["https://other.example"],
        "prefix": audience[:-1],
        "suffix": audience + "x",
        "empty-list": [],
        "null": None,
    }.items():
        tokens[f"aud-{name}"] = m.sign(m.claims(aud=aud))
    for name, value in {"sub-empty": "", "sub-int": 1, "tv-string": "0", "tv-negative": -1}.items():
        claim = name.split("-")[0]
        tokens[f"claim-{name}"] = m.sign(m.claims(**{claim: value}))
    return tokens


def huge_tokens(material: Material) -> dict[str, str]:
    """Validly signed, but far larger than any token we issue: refused before decoding."""
    return {
        f"huge-{size // 1024}kb": material.sign(material.claims(pad="x" * size))
        for size in (5 * 1024, 16 * 1024, 64 * 1024)
    }


Builder = Callable[[Material], dict[str, str]]

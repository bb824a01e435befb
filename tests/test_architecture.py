"""The package's import graph: layers read bottom-up, no circles, and the verifier stays apart.

Read from the source with `ast`, so what is checked is what the code imports (module level,
inside functions and under TYPE_CHECKING alike).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import authsvc

PACKAGE_DIR = Path(authsvc.__file__).resolve().parent

# Lower numbers are lower layers; a module may import its own package or a lower layer only.
LAYERS: dict[str, int] = {
    "authsvc": 0,  # the package's face: its version only
    "authsvc.clock": 0,
    "authsvc.errors": 0,
    # Parsing what an operator writes (addresses, the relay's URL), for the settings to check.
    "authsvc.mail.address": 0,
    "authsvc.mail.smtp": 0,
    "authsvc.config": 1,
    "authsvc.storage": 2,
    "authsvc.tokens": 2,
    "authsvc.mail": 3,
    "authsvc.observability": 3,
    "authsvc.passwords": 3,
    "authsvc.throttle": 3,
    "authsvc.keys": 4,
    "authsvc.revocation": 4,
    # The channels that carry announcements (the protocol and its listeners, then publishing),
    # below both the key ring and the version sources.
    "authsvc.revocation.channels": 2,
    "authsvc.revocation.session_ends": 2,
    "authsvc.revocation.publish": 3,
    "authsvc.web": 4,
    "authsvc.services": 5,
    "authsvc.verify": 5,
    # Multi-factor sign-in builds on the login, session and account use cases.
    "authsvc.mfa": 6,
    # Signing in with external providers builds on the login use case, beside mfa.
    "authsvc.federation": 6,
    "authsvc.runtime": 7,
    "authsvc.api": 8,
    # The hosted pages: routers like api/, built on its dependencies and cookie hand-out.
    "authsvc.ui": 9,
    "authsvc.app": 10,
    "authsvc.cli": 11,
    "authsvc.__main__": 12,
}
# The downstream SDK runs in other services: it may use only what it shares with the server.
VERIFIER_MAY_IMPORT = (
    "authsvc.verify",
    "authsvc.clock",
    "authsvc.errors",
    "authsvc.tokens",
    "authsvc.revocation.channels",
    "authsvc.revocation.sources",
    "authsvc.storage.models",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> Iterator[str]:
    """The package modules that `path` imports, resolved to modules that exist."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from authsvc.keys import lifecycle` imports the module authsvc.keys.lifecycle.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for target in targets:
            if target.startswith("authsvc"):
                while target not in known and "." in target:
                    target = target.rpartition(".")[0]
                yield target


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set(imported(path, name, known)) - {name} for name, path in found.items()}


def layer_of(module: str) -> tuple[str, int]:
    """The most specific layer a module belongs to."""
    best = max((prefix for prefix in LAYERS if _within(module, prefix)), key=len)
    return best, LAYERS[best]


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name in modules() if layer_of(name)[0] == "authsvc" and name != "authsvc"]
    assert unplaced == [], f"give these modules a layer in LAYERS: {unplaced}"


def test_imports_only_point_down_or_within_their_own_package() -> None:
    upward = []
    for importer, targets in graph().items():
        home, rank = layer_of(importer)
        for target in targets:
            target_home, target_rank = layer_of(target)
            if target_home != home and target_rank >= rank:
                upward.append(f"{importer} -> {target}")
    assert upward == []


def test_there_is_no_import_circle() -> None:
    edges = graph()
    state: dict[str, str] = {}
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert circles == []


def test_the_verifier_imports_no_server_code() -> None:
    leaks = [
        f"{importer} -> {target}"
        for importer, targets in graph().items()
        if _within(importer, "authsvc.verify")
        for target in targets
        if not any(_within(target, allowed) for allowed in VERIFIER_MAY_IMPORT)
    ]
    assert leaks == []


@pytest.mark.parametrize("router", ["authsvc.api", "authsvc.ui"])
def test_the_command_line_imports_no_router(router: str) -> None:
    leaks = [
        f"{importer} -> {target}"
        for importer, targets in graph().items()
        if _within(importer, "authsvc.cli")
        for target in targets
        if _within(target, router)
    ]
    assert leaks == []


def test_the_graph_is_read_at_all() -> None:
    # Guards the tests above against passing on an empty graph.
    edges = graph()
    assert len(edges) > 50
    assert "authsvc.services.login" in edges["authsvc.api.auth"]
    # A subpackage's modules are nodes of their own, inside their package's layer.
    assert "authsvc.errors.base" in edges["authsvc.errors"]
    assert layer_of("authsvc.errors.base") == ("authsvc.errors", 0)

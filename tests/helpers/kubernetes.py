"""Rendering deploy/kubernetes with `kubectl kustomize`, for the tests that read the objects."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.paths import REPO_ROOT
from tests.helpers.suites import skip_suite

MANIFESTS = REPO_ROOT / "deploy" / "kubernetes"
# What a user applies: the demo, and production's two steps (the migrations first).
OVERLAYS = ("demo", "production", "production/migrate")
# The Kubernetes release the manifests are validated against (docs/kubernetes.md says so too).
KUBERNETES_VERSION = "1.32.0"
KUBECTL_HOW = (
    "Kubernetes manifest tests skipped: kubectl is not installed (it comes with the machine "
    "image; `make k8s-deps` checks for it)"
)

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """One overlay's objects, and the rendered YAML file they were read from."""

    name: str
    path: Path
    objects: list[Manifest]

    def one(self, kind: str, name: str | None = None) -> Manifest:
        found = [
            item
            for item in self.objects
            if item["kind"] == kind and name in (None, item["metadata"]["name"])
        ]
        assert len(found) == 1, f"{self.name}: {len(found)} {kind} objects named {name}"
        return found[0]

    def kinds(self) -> set[str]:
        return {item["kind"] for item in self.objects}


def kubectl() -> str:
    """The kubectl that renders the overlays; a skip (a failure in CI) without one."""
    found = shutil.which("kubectl")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the Kubernetes manifest tests: " + KUBECTL_HOW)
        skip_suite(KUBECTL_HOW)
    return found


def render_all(workdir: Path) -> dict[str, Rendered]:
    """Render every overlay from a copy of deploy/kubernetes, with the demo's secrets.env made
    as docs/kubernetes.md says (it is git-ignored, so the checkout has none)."""
    tree = workdir / "kubernetes"
    shutil.copytree(MANIFESTS, tree, ignore=shutil.ignore_patterns("secrets.env"))
    secret = secrets.token_urlsafe(32)
    (tree / "overlays" / "demo" / "secrets.env").write_text(
        f"AUTHSVC_KEY_ENCRYPTION_SECRET={secret}\n"
    )
    program = kubectl()
    rendered = {}
    for overlay in OVERLAYS:
        result = subprocess.run(
            [program, "kustomize", str(tree / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"kubectl kustomize {overlay}: {result.stderr}"
        path = workdir / (overlay.replace("/", "-") + ".yaml")
        path.write_text(result.stdout)
        objects = [item for item in yaml.safe_load_all(result.stdout) if item]
        rendered[overlay] = Rendered(overlay, path, objects)
    return rendered


def pod_spec(item: Manifest) -> Manifest:
    """The pod template's spec of a Deployment or a Job."""
    spec: Manifest = item["spec"]["template"]["spec"]
    return spec


def containers(item: Manifest) -> list[Manifest]:
    spec = pod_spec(item)
    found: list[Manifest] = spec.get("initContainers", []) + spec["containers"]
    return found


def env_file_names(path: Path) -> list[str]:
    """The variable names of a `NAME=value` file (comments and blank lines left out)."""
    lines = path.read_text().splitlines()
    return [line.split("=", 1)[0] for line in lines if line.strip() and not line.startswith("#")]


def env_file_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values

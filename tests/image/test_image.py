"""The container image, built and run for real (buildah, no Docker engine needed)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.helpers.paths import REPO_ROOT
from tests.helpers.suites import skip_suite

HOW = (
    "image test skipped: it needs root, buildah and debootstrap "
    "(apt-get install buildah debootstrap), then `make image-test` or `make test`"
)

pytestmark = pytest.mark.server


def _missing() -> bool:
    tools = all(shutil.which(tool) for tool in ("buildah", "debootstrap"))
    return os.geteuid() != 0 or not tools


@pytest.fixture(scope="module")
def image_tools() -> None:
    if _missing():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the image test: " + HOW)
        skip_suite(HOW)


def test_image_builds_runs_as_non_root_and_serves_login(image_tools: None) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "image-test"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "image-test: PASSED" in output


COMPOSE_HOW = (
    "compose test skipped: it needs root, buildah, podman, podman-compose and runc "
    "(make compose-deps), then `make compose-test` or `make test`"
)


def test_the_compose_file_runs_with_podman_on_the_image(image_tools: None) -> None:
    """deploy/compose.yaml under podman-compose, on the image the test above built."""
    if not all(shutil.which(tool) for tool in ("podman", "podman-compose", "runc")):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the compose test: " + COMPOSE_HOW)
        skip_suite(COMPOSE_HOW)
    result = subprocess.run(
        ["make", "--no-print-directory", "compose-test"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "compose-test: PASSED" in output


KUBE_HOW = (
    "Kubernetes demo test skipped: it needs root, buildah, podman, runc and kubectl "
    "(make compose-deps k8s-deps), then `make kube-test` or `make test`"
)


def test_the_kubernetes_demo_runs_with_podman_kube_play(image_tools: None) -> None:
    """deploy/kubernetes/overlays/demo, rendered and played by podman, on the image built above."""
    if not all(shutil.which(tool) for tool in ("podman", "runc", "kubectl")):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the Kubernetes demo test: " + KUBE_HOW)
        skip_suite(KUBE_HOW)
    result = subprocess.run(
        ["make", "--no-print-directory", "kube-test"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "kube-test: PASSED" in output

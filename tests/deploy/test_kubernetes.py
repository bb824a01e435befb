"""deploy/kubernetes rendered by `kubectl kustomize`: valid objects that agree with the service."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import kubernetes_validate
import pytest
from pydantic import ValidationError

from authsvc.config import Settings
from tests.helpers import kubernetes as kubernetes_helpers
from tests.helpers.kubernetes import (
    KUBERNETES_VERSION,
    MANIFESTS,
    OVERLAYS,
    Rendered,
    containers,
    env_file_names,
    env_file_values,
    pod_spec,
    render_all,
)
from tests.helpers.paths import REPO_ROOT
from tests.helpers.suites import SKIPPED_SUITES, skip_suite

SETTINGS = {f"AUTHSVC_{name.upper()}" for name in Settings.model_fields}
PRODUCTION_SECRETS = MANIFESTS / "overlays" / "production" / "secrets.env.example"
CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"
CHECKOV_HOW = "checkov test skipped: checkov is not installed (make k8s-deps installs it)"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    return render_all(tmp_path_factory.mktemp("kubernetes"))


def config_of(overlay: Rendered) -> dict[str, str]:
    data: dict[str, str] = overlay.one("ConfigMap")["data"]
    return data


def test_every_overlay_is_valid_for_the_stated_kubernetes_release(
    rendered: dict[str, Rendered],
) -> None:
    for overlay in rendered.values():
        assert overlay.objects, overlay.name
        for item in overlay.objects:
            # Strict: a misspelt or misplaced field is an error, not silently dropped.
            kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)


def test_a_misplaced_field_is_refused_by_the_validation(rendered: dict[str, Rendered]) -> None:
    """The check above can fail: a probe written one level too high is an error."""
    deployment = rendered["production"].one("Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["readinessProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_overlays_hold_what_each_shape_needs(rendered: dict[str, Rendered]) -> None:
    production, demo = rendered["production"], rendered["demo"]
    assert {
        "Deployment", "Service", "ConfigMap", "ServiceAccount", "PodDisruptionBudget",
        "HorizontalPodAutoscaler", "NetworkPolicy",
    } <= production.kinds()  # fmt: skip
    # Production's Secret is made outside the repository; the demo's from its git-ignored file.
    assert "Secret" not in production.kinds()
    assert "Secret" in demo.kinds()
    assert rendered["production/migrate"].kinds() == {"Job", "NetworkPolicy"}
    # One pod on one SQLite file: no autoscaler to add a second writer, no budget to block drains.
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget"}.isdisjoint(demo.kinds())
    assert demo.one("Deployment")["spec"]["replicas"] == 1
    assert demo.one("Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    hpa = production.one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == production.one("Deployment")["metadata"]["name"]
    assert hpa["minReplicas"] >= 2
    # The autoscaler owns the count: a re-apply must not reset a scaled-up fleet.
    assert "replicas" not in production.one("Deployment")["spec"]


def test_every_probe_names_the_servers_port(rendered: dict[str, Rendered]) -> None:
    """Every probe names a port of its container; the paths answer on the app (next test)."""
    for overlay in rendered.values():
        for item in overlay.objects:
            if item["kind"] != "Deployment":
                continue
            server = pod_spec(item)["containers"][0]
            ports = {port["name"]: port["containerPort"] for port in server["ports"]}
            probes = {kind: server[kind] for kind in ("readinessProbe", "livenessProbe")}
            assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
            for probe in [*probes.values(), server["startupProbe"]]:
                assert probe["httpGet"]["port"] in ports, overlay.name


async def test_the_probe_paths_answer_200_on_a_started_service(
    rendered: dict[str, Rendered], client: httpx.AsyncClient
) -> None:
    server = pod_spec(rendered["production"].one("Deployment"))["containers"][0]
    probes = ("readinessProbe", "livenessProbe", "startupProbe")
    paths = {server[kind]["httpGet"]["path"] for kind in probes}
    assert paths == {"/readyz", "/healthz"}
    for path in sorted(paths):
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)


def test_ports_agree_with_the_image_and_serve(rendered: dict[str, Rendered]) -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    exposed = int(re.search(r"^EXPOSE (\d+)$", dockerfile, re.MULTILINE)[1])  # type: ignore[index]
    image_port = int(re.search(r"AUTHSVC_PORT=(\d+)", dockerfile)[1])  # type: ignore[index]
    assert exposed == image_port
    for name in ("demo", "production"):
        overlay = rendered[name]
        config = config_of(overlay)
        assert int(config["AUTHSVC_PORT"]) == exposed
        # A wildcard address: the kubelet's probes and the Service reach the pod's IP.
        assert config["AUTHSVC_HOST"] == "0.0.0.0"
        server = pod_spec(overlay.one("Deployment"))["containers"][0]
        assert server["ports"] == [{"name": "http", "containerPort": exposed, "protocol": "TCP"}]
        service = overlay.one("Service")["spec"]
        assert service["ports"][0]["targetPort"] == "http"
        assert service["selector"].items() <= pod_template_labels(overlay).items()


def pod_template_labels(overlay: Rendered) -> dict[str, str]:
    labels: dict[str, str] = overlay.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


def test_the_policies_select_the_servers(rendered: dict[str, Rendered]) -> None:
    production = rendered["production"]
    labels = pod_template_labels(production)
    deployment = production.one("Deployment")
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    budget = production.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert budget.items() <= labels.items()
    policy = production.one("NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    allowed = [
        source["podSelector"]["matchLabels"]
        for rule in policy["ingress"]
        for source in rule["from"]
    ]
    assert allowed == [
        {"authsvc-access": "ingress"},
        {"authsvc-access": "downstream"},
        {"authsvc-access": "metrics"},
    ]
    # The migrations pod is not a server: it takes none of the servers' traffic.
    job = rendered["production/migrate"].one("Job")["spec"]["template"]["metadata"]["labels"]
    assert not policy["podSelector"]["matchLabels"].items() <= job.items()


def test_every_variable_is_a_setting_of_the_service(rendered: dict[str, Rendered]) -> None:
    names: list[str] = env_file_names(PRODUCTION_SECRETS)
    for overlay in rendered.values():
        for item in overlay.objects:
            if item["kind"] in ("ConfigMap", "Secret"):
                names += list(item.get("data", {}))
            if item["kind"] in ("Deployment", "Job"):
                names += [var["name"] for c in containers(item) for var in c.get("env", [])]
    assert len(names) > 10
    assert not [name for name in names if name not in SETTINGS]


def environment(overlay: Rendered, secret: dict[str, str]) -> dict[str, str]:
    """The AUTHSVC_* variables the server container gets: its ConfigMap, then the Secret."""
    server = pod_spec(overlay.one("Deployment"))["containers"][0]
    sources = [next(iter(source.values()))["name"] for source in server["envFrom"]]
    config = overlay.one("ConfigMap")
    assert sources[0] == config["metadata"]["name"]
    assert sources[1].startswith("authsvc-secrets")
    return {**config["data"], **secret}


def test_the_settings_given_start_the_service(
    rendered: dict[str, Rendered], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Config and Secret, read from the environment as in the pod, are valid settings with
    what `serve` requires."""
    demo = rendered["demo"]
    demo_secret = {
        name: base64.b64decode(value).decode() for name, value in demo.one("Secret")["data"].items()
    }
    production_secret = env_file_values(PRODUCTION_SECRETS)
    production_secret["AUTHSVC_KEY_ENCRYPTION_SECRET"] = "x" * 32  # a real one, in its place
    for overlay, secret in ((demo, demo_secret), (rendered["production"], production_secret)):
        env = environment(overlay, secret)
        with monkeypatch.context() as patched:
            for name, value in env.items():
                patched.setenv(name, value)
            settings = Settings(_env_file=None)
        settings.require_key_encryption_secret()
        assert settings.database_url == env["AUTHSVC_DATABASE_URL"], overlay.name
        assert settings.workers == 1
    # The migrations Job reads the same Secret's database URL.
    job = containers(rendered["production/migrate"].one("Job"))[0]
    database = next(var for var in job["env"] if var["name"] == "AUTHSVC_DATABASE_URL")
    assert database["valueFrom"]["secretKeyRef"] == {
        "name": "authsvc-secrets",
        "key": "AUTHSVC_DATABASE_URL",
    }


def test_the_example_secret_cannot_be_used_as_it_is() -> None:
    example = env_file_values(PRODUCTION_SECRETS)
    assert set(example) == {
        "AUTHSVC_KEY_ENCRYPTION_SECRET", "AUTHSVC_DATABASE_URL", "AUTHSVC_REDIS_URL",
    }  # fmt: skip
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(_env_file=None, key_encryption_secret=example["AUTHSVC_KEY_ENCRYPTION_SECRET"])
    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert "deploy/kubernetes/overlays/*/secrets.env" in ignored


def test_the_demo_migrates_and_keeps_its_database_on_its_volume(
    rendered: dict[str, Rendered],
) -> None:
    demo = rendered["demo"]
    spec = pod_spec(demo.one("Deployment"))
    [migrate] = spec["initContainers"]
    assert migrate["args"] == ["db", "upgrade"]
    assert migrate["envFrom"] == spec["containers"][0]["envFrom"]
    database = config_of(demo)["AUTHSVC_DATABASE_URL"]
    assert database.startswith("sqlite:////data/")
    for container in (migrate, spec["containers"][0]):
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        assert mounts["/data"] == "data"
    claim = demo.one("PersistentVolumeClaim")["metadata"]["name"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim


def test_images_are_the_one_make_image_builds(rendered: dict[str, Rendered]) -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    built = re.search(r"^IMAGE_TAG \?= (\S+)$", makefile, re.MULTILINE)[1]  # type: ignore[index]
    demo_images = {c["image"] for c in containers(rendered["demo"].one("Deployment"))}
    assert demo_images == {built}
    # Production names its registry's copy; the migrations run exactly the servers' image.
    server = {c["image"] for c in containers(rendered["production"].one("Deployment"))}
    job = {c["image"] for c in containers(rendered["production/migrate"].one("Job"))}
    assert server == job
    assert [image.rpartition(":")[0].rpartition("/")[2] for image in server] == ["authsvc"]


def test_pods_run_as_the_images_user_on_a_read_only_root(rendered: dict[str, Rendered]) -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    uid = int(re.search(r"^USER (\d+):", dockerfile, re.MULTILINE)[1])  # type: ignore[index]
    for overlay in rendered.values():
        for item in overlay.objects:
            if item["kind"] not in ("Deployment", "Job"):
                continue
            pod = pod_spec(item)
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["runAsUser"] == uid
            assert pod["automountServiceAccountToken"] is False
            for container in containers(item):
                security = container["securityContext"]
                assert security["readOnlyRootFilesystem"] is True, overlay.name
                assert security["allowPrivilegeEscalation"] is False
                assert security["capabilities"]["drop"] == ["ALL"]
                mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
                assert "/tmp" in mounts
                assert container["resources"]["limits"].keys() == {"cpu", "memory"}
                assert container["resources"]["requests"].keys() == {"cpu", "memory"}


def test_the_pod_drains_before_it_is_killed(rendered: dict[str, Rendered]) -> None:
    """SIGKILL comes after the preStop sleep and the service's own drain, never during them."""
    for name in ("demo", "production"):
        overlay = rendered[name]
        pod = pod_spec(overlay.one("Deployment"))
        sleep = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
        assert sleep[0] == "sleep"
        drain = int(config_of(overlay)["AUTHSVC_SHUTDOWN_GRACE_SECONDS"])
        assert pod["terminationGracePeriodSeconds"] >= int(sleep[1]) + drain + 5


def test_checkov_finds_nothing_that_is_not_explained(
    rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    if not CHECKOV.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run checkov: " + CHECKOV_HOW)
        skip_suite(CHECKOV_HOW)
    for overlay in rendered.values():
        (tmp_path / overlay.path.name).write_text(overlay.path.read_text())
    result = subprocess.run(
        [str(CHECKOV), "--directory", str(tmp_path), "--framework", "kubernetes",
         "--output", "json", "--skip-download"],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    report = json.loads(result.stdout)
    results = report["results"]
    failed = [(check["check_id"], check["resource"]) for check in results["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 100
    # Every skip says why (the annotation's text after the check id).
    skipped = results["skipped_checks"]
    assert skipped
    reasons = {s["check_id"]: s["check_result"].get("suppress_comment", "") for s in skipped}
    assert [check for check, reason in reasons.items() if len(reason) < 40] == []


def test_each_overlay_renders_from_its_own_directory() -> None:
    """The overlays the docs name are the ones the tests render."""
    found = sorted(
        str(path.parent.relative_to(MANIFESTS / "overlays"))
        for path in (MANIFESTS / "overlays").rglob("kustomization.yaml")
    )
    assert found == sorted(OVERLAYS)


def test_without_kubectl_the_suite_skips_with_its_reason_and_ci_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tests.helpers.kubernetes.shutil.which", lambda _name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="kubectl is not installed"):
        kubernetes_helpers.kubectl()
    SKIPPED_SUITES.discard(kubernetes_helpers.KUBECTL_HOW)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the Kubernetes manifest tests"):
        kubernetes_helpers.kubectl()

"""Turn rendered Kubernetes manifests into what `podman kube play` (4.3, Debian 12) can run.

Usage: podman_manifests.py RENDERED.yaml OUT_DIR --image IMAGE --name NAME --host-port PORT

Writes OUT_DIR/play.yaml and, for each Secret, OUT_DIR/secret-<name>.json; prints one line per
Secret, "<name> <file>", for `podman secret create`. What changes, and why (each found by trying):
  * podman reads Deployments, ConfigMaps and PersistentVolumeClaims; a Service, NetworkPolicy or
    ServiceAccount has no meaning there and is left out;
  * a Secret must already be in podman's secret store, as a JSON object of key -> base64 value
    (the Secret's `data`); a Secret in the YAML is stored as YAML and then fails to load;
  * podman publishes every containerPort on 0.0.0.0 and the same port: the test's port is
    published on 127.0.0.1 instead;
  * podman 4.3 gives init containers the pod's restart policy, so with `Always` the migrations
    init container is restarted forever and the server never starts: the pod gets `OnFailure`;
  * the Deployment and its claim are renamed, so the run cannot meet another one's pod or volume.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

PLAYED = ("Deployment", "ConfigMap", "PersistentVolumeClaim")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--image", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--host-port", type=int, required=True)
    args = parser.parse_args()
    documents = [doc for doc in yaml.safe_load_all(args.rendered.read_text()) if doc]
    claims = {
        doc["metadata"]["name"]: f"{args.name}-{doc['metadata']['name']}"
        for doc in documents
        if doc["kind"] == "PersistentVolumeClaim"
    }
    played: list[dict[str, Any]] = []
    for doc in documents:
        if doc["kind"] == "Secret":
            name = doc["metadata"]["name"]
            path = args.out_dir / f"secret-{name}.json"
            path.write_text(json.dumps(doc.get("data", {})))
            path.chmod(0o600)
            sys.stdout.write(f"{name} {path}\n")
        elif doc["kind"] == "PersistentVolumeClaim":
            doc["metadata"]["name"] = claims[doc["metadata"]["name"]]
            played.append(doc)
        elif doc["kind"] == "Deployment":
            doc["metadata"]["name"] = args.name
            adapt_pod(doc["spec"]["template"]["spec"], args, claims)
            played.append(doc)
        elif doc["kind"] in PLAYED:
            played.append(doc)
    if not any(doc["kind"] == "Deployment" for doc in played):
        sys.exit(f"{args.rendered}: no Deployment to play")
    (args.out_dir / "play.yaml").write_text(yaml.safe_dump_all(played, sort_keys=False))


def adapt_pod(pod: dict[str, Any], args: argparse.Namespace, claims: dict[str, str]) -> None:
    pod["restartPolicy"] = "OnFailure"
    for volume in pod.get("volumes", []):
        claim = volume.get("persistentVolumeClaim")
        if claim:
            claim["claimName"] = claims[claim["claimName"]]
    for container in pod.get("initContainers", []) + pod["containers"]:
        container["image"] = args.image
    for container in pod["containers"]:
        for port in container.get("ports", []):
            if port.get("name") == "http":
                port["hostPort"] = args.host_port
                port["hostIP"] = "127.0.0.1"


if __name__ == "__main__":
    main()

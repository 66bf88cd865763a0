"""The cluster tier's files (deploy/k8s/), read as a reviewer would: what they render, and what they expose.

There is no helm binary or Kubernetes API server on the CI machines, so the tests work from the files:

- ``render_instance`` builds the ``dagster.yaml`` the official chart's instance ConfigMap renders from
  ``values.yaml`` (the chart's ``configmap-instance.yaml`` and its run-launcher and PostgreSQL helpers,
  transcribed for the keys these values use), so Dagster's and dagster-k8s's own config schemas can
  check it;
- ``exposure_problems`` fails a Service of type LoadBalancer or NodePort, the chart's own Ingress (it has
  no authentication), and any Ingress whose backend does not require Identity-Aware Proxy;
- ``iam_problems`` fails any role in ``iam.sh`` other than object user on the bucket, subscriber on the
  subscription and workload identity user on the service account, and any project-, folder- or
  organisation-wide binding;
- ``secret_problems`` fails a password in the values, a key file or credentials variable in the image,
  and an image that runs as root.
"""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from book_assets.core.problems import Problem

DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy" / "k8s"
RELEASE = "book-assets"                         # the Helm release name the README's commands use
WEBSERVER_SERVICE = f"{RELEASE}-dagster-webserver"

# (resource kind the binding is on, role): everything the service account may hold.
ALLOWED_BINDINGS = {
    ("storage buckets", "roles/storage.objectUser"),
    ("pubsub subscriptions", "roles/pubsub.subscriber"),
    ("iam service-accounts", "roles/iam.workloadIdentityUser"),
}
WIDE_SCOPES = ("projects", "resource-manager folders", "organizations")


def load_values(path: Path = DEPLOY_DIR / "values.yaml") -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def load_manifests(path: Path = DEPLOY_DIR / "manifests.yaml") -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(Path(path).read_text()) if doc]


def _postgres_config(values: dict) -> dict:
    pg = values["postgresql"]
    config = {"postgres_db": {
        "username": pg["postgresqlUsername"], "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"], "db_name": pg["postgresqlDatabase"], "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams") or {},
    }}
    if pg.get("postgresqlScheme"):
        config["postgres_db"]["scheme"] = pg["postgresqlScheme"]
    return config


def run_launcher_config(values: dict, namespace: str = "books") -> dict:
    """The ``run_launcher.config`` the chart renders for ``K8sRunLauncher`` (its _run-launcher.tpl)."""
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or namespace,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": values["global"]["serviceAccountName"],
        "dagster_home": {"env": "DAGSTER_HOME"},
        "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
        "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
        "env_config_maps": [{"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"},
                            *[m["name"] for m in k8s.get("envConfigMaps", []) if "name" in m]],
    }
    if k8s.get("kubeconfigFile"):
        config["kubeconfig_file"] = k8s["kubeconfigFile"]
    if k8s.get("envSecrets"):
        config["env_secrets"] = [s["name"] for s in k8s["envSecrets"] if "name" in s]
    for key, name in (("envVars", "env_vars"), ("volumeMounts", "volume_mounts"), ("volumes", "volumes"),
                      ("labels", "labels"), ("failPodOnRunFailure", "fail_pod_on_run_failure"),
                      ("resources", "resources"), ("securityContext", "security_context"),
                      ("schedulerName", "scheduler_name")):
        if k8s.get(key) not in (None, [], {}):
            config[name] = k8s[key]
    if k8s.get("runK8sConfig"):
        config["run_k8s_config"] = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v
                                    for k, v in k8s["runK8sConfig"].items()}
    return config


def render_instance(values: dict, namespace: str = "books") -> dict:
    """The instance ``dagster.yaml`` the chart's ConfigMap holds for these values."""
    daemon = values["dagsterDaemon"]
    storage = _postgres_config(values)
    instance: dict[str, Any] = {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {"module": "dagster_postgres.schedule_storage", "class": "PostgresScheduleStorage",
                             "config": storage},
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage", "config": storage},
        "event_log_storage": {"module": "dagster_postgres.event_log", "class": "PostgresEventLogStorage",
                              "config": storage},
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher",
                         "config": run_launcher_config(values, namespace)},
        "telemetry": {"enabled": values.get("telemetry", {}).get("enabled", True)},
    }
    coordinator = daemon["runCoordinator"]
    if daemon["enabled"] and coordinator["enabled"]:
        queued = coordinator["config"]["queuedRunCoordinator"] or {}
        instance["run_coordinator"] = {
            "module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator",
            "config": {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in queued.items()},
        }
    monitoring = daemon.get("runMonitoring", {})
    if daemon["enabled"] and monitoring.get("enabled"):
        instance["run_monitoring"] = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in monitoring.items()}
    retries = daemon.get("runRetries", {})
    if daemon["enabled"] and retries.get("enabled"):
        instance["run_retries"] = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in retries.items()}
    retention = values.get("retention", {})
    if retention.get("enabled"):
        instance["retention"] = {kind: {"purge_after_days": retention[kind]["purgeAfterDays"]}
                                 for kind in ("sensor", "schedule") if kind in retention}
    instance.update(values.get("additionalInstanceConfig") or {})
    return instance


def _annotations_of_service(name: str, values: dict, manifests: list[dict]) -> dict[str, str] | None:
    """A Service's annotations, whether the chart makes it (the webserver) or manifests.yaml does."""
    if name == WEBSERVER_SERVICE:
        return dict(values["dagsterWebserver"]["service"].get("annotations") or {})
    for doc in manifests:
        if doc.get("kind") == "Service" and doc["metadata"]["name"] == name:
            return dict(doc["metadata"].get("annotations") or {})
    return None


def _ingress_backends(ingress: dict) -> list[str]:
    spec = ingress.get("spec", {})
    names = []
    if spec.get("defaultBackend"):
        names.append(spec["defaultBackend"]["service"]["name"])
    for rule in spec.get("rules", []):
        names.extend(path["backend"]["service"]["name"] for path in rule.get("http", {}).get("paths", []))
    return names


def exposure_problems(values: dict, manifests: list[dict]) -> list[Problem]:
    """Every way in from outside the cluster that does not pass an authenticating proxy."""
    problems = []
    web_type = values["dagsterWebserver"]["service"]["type"]
    if web_type != "ClusterIP":
        problems.append(Problem("public_service", f"the webserver Service is of type {web_type}: anyone who reaches "
                                "the node or load balancer gets the UI without a login"))
    if (values.get("ingress") or {}).get("enabled"):
        problems.append(Problem("unauthenticated_ingress", "the chart's own Ingress is enabled: it has no "
                                "authentication in front of the webserver"))
    iap_configs = {doc["metadata"]["name"] for doc in manifests
                   if doc.get("kind") == "BackendConfig" and (doc.get("spec", {}).get("iap") or {}).get("enabled")}
    for doc in manifests:
        kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
        if kind == "Service" and doc.get("spec", {}).get("type") in ("LoadBalancer", "NodePort"):
            problems.append(Problem("public_service", f"Service {name} is of type {doc['spec']['type']}"))
        if kind == "Ingress":
            for backend in _ingress_backends(doc):
                annotations = _annotations_of_service(backend, values, manifests)
                if annotations is None:
                    problems.append(Problem("unknown_backend", f"Ingress {name} routes to {backend}, which neither "
                                            "the chart nor manifests.yaml makes"))
                    continue
                config = json.loads(annotations.get("cloud.google.com/backend-config", "{}") or "{}")
                if config.get("default") not in iap_configs:
                    problems.append(Problem("unauthenticated_ingress", f"Ingress {name} routes to {backend} without "
                                            "Identity-Aware Proxy (no BackendConfig with iap.enabled)"))
    return problems


def iam_problems(script: str) -> list[Problem]:
    """Every IAM binding in ``iam.sh`` that is wider than the three the code location needs."""
    problems = []
    text = script.replace("\\\n", " ")
    for line in text.splitlines():
        if "add-iam-policy-binding" not in line or line.lstrip().startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        at = words.index("add-iam-policy-binding")
        scope = " ".join(words[1:at])
        role = next((w.split("=", 1)[1] for w in words if w.startswith("--role=")), None)
        if any(scope == wide for wide in WIDE_SCOPES):
            problems.append(Problem("wide_binding", f"{role} granted on the whole {scope.split()[-1][:-1]}: "
                                    "bind roles on the bucket or subscription itself"))
        elif (scope, role) not in ALLOWED_BINDINGS:
            problems.append(Problem("broad_role", f"{role} on {scope}: the code location needs only "
                                    "roles/storage.objectUser on the bucket and roles/pubsub.subscriber on its subscription"))
    return problems


def secret_problems(values: dict, dockerfile: str) -> list[Problem]:
    """Secrets in files, and an image that runs as root."""
    problems = []
    if values["postgresql"].get("postgresqlPassword"):
        problems.append(Problem("secret_in_file", "values.yaml holds the database password"))
    if values.get("generatePostgresqlPasswordSecret", True):
        problems.append(Problem("secret_in_file", "generatePostgresqlPasswordSecret makes the chart write the "
                                "password from values.yaml into a Secret"))
    if re.search(r"GOOGLE_APPLICATION_CREDENTIALS|\.json\s|key\.json", dockerfile):
        problems.append(Problem("secret_in_image", "the image refers to a credentials file: use workload identity"))
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    if not users or users[-1] in ("root", "0"):
        problems.append(Problem("root_image", "the image runs as root: end with USER <non-root uid>"))
    return problems

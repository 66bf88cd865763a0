"""The cluster tier's files (deploy/k8s/) checked with the schemas of the software that will read them, and
against the deployment rules: nothing public without IAP, no role broader than object user on the bucket."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes
import pytest
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config_schema, validate_concurrency_config
from dagster_k8s import K8sRunLauncher
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict
from dagster_postgres import PostgresRunStorage

from book_assets_dev.k8s_deploy import (DEPLOY_DIR, WEBSERVER_SERVICE, exposure_problems, iam_problems,
                                        load_manifests, load_values, render_instance, run_launcher_config,
                                        secret_problems)

PROJECT = Path(__file__).resolve().parent.parent
MODELS = {"Ingress": kubernetes.client.V1Ingress, "Service": kubernetes.client.V1Service,
          "NetworkPolicy": kubernetes.client.V1NetworkPolicy, "ServiceAccount": kubernetes.client.V1ServiceAccount}


@pytest.fixture
def values():
    return load_values()


@pytest.fixture
def manifests():
    return load_manifests()


def codes(problems) -> list[str]:
    return [p.code for p in problems]


def test_the_run_launcher_config_passes_dagster_k8s_schema(values):
    config = run_launcher_config(values)
    result = validate_config(K8sRunLauncher.config_type(), config)
    assert result.success, [e.message for e in result.errors]
    assert config["service_account_name"] == "book-assets" and config["security_context"]["runAsNonRoot"]

    broken = copy.deepcopy(values)
    broken["runLauncher"]["config"]["k8sRunLauncher"]["failPodOnRunFailure"] = "sometimes"
    assert not validate_config(K8sRunLauncher.config_type(), run_launcher_config(broken)).success


def test_the_rendered_instance_passes_dagsters_schemas(values):
    instance = render_instance(values)
    result = validate_config(dagster_instance_config_schema(), instance)
    assert result.success, [e.message for e in result.errors]
    validate_concurrency_config(instance)          # raises on a queue configured twice or inconsistently
    storage = instance["run_storage"]["config"]
    assert validate_config(PostgresRunStorage.config_type(), storage).success
    assert storage["postgres_db"]["scheme"] == "postgresql+psycopg2"     # the driver named, as on the team tier
    assert storage["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    [per_book] = instance["concurrency"]["runs"]["tag_concurrency_limits"]
    assert per_book == {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    assert instance["run_monitoring"]["max_runtime_seconds"] == 3600

    doubled = copy.deepcopy(values)   # limits in the run coordinator too: Dagster refuses the instance
    doubled["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["maxConcurrentRuns"] = 5
    with pytest.raises(Exception, match="concurrency"):
        validate_concurrency_config(render_instance(doubled))


def test_plain_manifests_are_well_formed_kubernetes_objects(manifests):
    kinds = sorted(doc["kind"] for doc in manifests)
    assert kinds == ["BackendConfig", "Ingress", "ManagedCertificate", "NetworkPolicy"]
    for doc in manifests:
        assert doc["metadata"]["namespace"] == "books"
        if doc["kind"] in MODELS:       # strict: an unknown or misspelt field raises
            model = MODELS[doc["kind"]]
            body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
            k8s_model_from_dict(model, k8s_snake_case_dict(model, body))
    with pytest.raises(Exception, match="Unexpected keys"):
        k8s_snake_case_dict(kubernetes.client.V1Ingress, {"spec": {"defaultBackends": {}}})
    [backend] = [d for d in manifests if d["kind"] == "BackendConfig"]
    assert backend["spec"]["iap"] == {"enabled": True, "oauthclientCredentials": {"secretName": "book-assets-iap-oauth"}}


def test_nothing_is_reachable_from_outside_without_identity_aware_proxy(values, manifests):
    assert exposure_problems(values, manifests) == []
    [ingress] = [d for d in manifests if d["kind"] == "Ingress"]
    assert ingress["spec"]["defaultBackend"]["service"]["name"] == WEBSERVER_SERVICE


@pytest.mark.parametrize("change, code", [
    (lambda v, m: v["dagsterWebserver"]["service"].update(type="LoadBalancer"), "public_service"),
    (lambda v, m: v["dagsterWebserver"]["service"].update(type="NodePort"), "public_service"),
    (lambda v, m: v["ingress"].update(enabled=True), "unauthenticated_ingress"),
    (lambda v, m: v["dagsterWebserver"]["service"]["annotations"].pop("cloud.google.com/backend-config"),
     "unauthenticated_ingress"),
    (lambda v, m: next(d for d in m if d["kind"] == "BackendConfig")["spec"]["iap"].update(enabled=False),
     "unauthenticated_ingress"),
    (lambda v, m: m.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "debug-ui"},
                            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}), "public_service"),
    (lambda v, m: next(d for d in m if d["kind"] == "Ingress")["spec"]["defaultBackend"]["service"].update(
        name="book-assets-user-code"), "unknown_backend"),
])
def test_an_endpoint_without_authentication_fails_the_check(values, manifests, change, code):
    change(values, manifests)
    assert code in codes(exposure_problems(values, manifests))


def test_the_service_account_holds_only_object_user_on_the_bucket_and_subscriber_on_its_subscription():
    script = (DEPLOY_DIR / "iam.sh").read_text()
    assert iam_problems(script) == []
    roles = re.findall(r"--role=\"?([\w./]+)", script)
    assert sorted(roles) == ["roles/iam.workloadIdentityUser", "roles/pubsub.subscriber", "roles/storage.objectUser"]


@pytest.mark.parametrize("line, code", [
    ('gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:${GSA}" '
     '--role="roles/storage.objectUser"', "wide_binding"),
    ('gcloud storage buckets add-iam-policy-binding "gs://${BUCKET}" --member="serviceAccount:${GSA}" '
     '--role="roles/storage.admin"', "broad_role"),
    ('gcloud storage buckets add-iam-policy-binding "gs://${BUCKET}" \\\n  --member="serviceAccount:${GSA}" '
     '--role="roles/storage.objectAdmin"', "broad_role"),
    ('gcloud organizations add-iam-policy-binding 1234 --member="serviceAccount:${GSA}" --role="roles/viewer"',
     "wide_binding"),
    ('gcloud pubsub topics add-iam-policy-binding t --member="serviceAccount:${GSA}" --role="roles/pubsub.editor"',
     "broad_role"),
])
def test_a_broader_role_or_a_project_wide_binding_fails_the_check(line, code):
    script = (DEPLOY_DIR / "iam.sh").read_text() + "\n" + line + "\n"
    assert codes(iam_problems(script)) == [code]


def test_no_secret_in_a_file_and_the_image_runs_as_a_user_with_the_books_debian_packages(values):
    dockerfile = (DEPLOY_DIR / "Dockerfile").read_text()
    assert secret_problems(values, dockerfile) == []
    assert codes(secret_problems({**values, "postgresql": {**values["postgresql"], "postgresqlPassword": "hunter2"}},
                                 dockerfile + "\nUSER root\nENV GOOGLE_APPLICATION_CREDENTIALS=/key.json\n")) == [
        "secret_in_file", "secret_in_image", "root_image"]
    assert re.search(r"^FROM python:3\.11-slim-bookworm$", dockerfile, flags=re.MULTILINE)   # Debian, as CI

    makefile = (PROJECT / "Makefile").read_text()
    lists = dict(re.findall(r"^(APT_\w+) := (.*)$", makefile, flags=re.MULTILINE))
    wanted = set(lists["APT_FONTS"].replace("$(APT_PRESS)", lists["APT_PRESS"]).split())
    installed = set(re.search(r"--no-install-recommends \\\n\s+(.*?) \\\n", dockerfile).group(1).split())
    assert installed == wanted
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["podSecurityContext"]["runAsUser"] == int(re.findall(r"^USER (\d+)", dockerfile, re.M)[-1])

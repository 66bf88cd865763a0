"""The team tier's instance file (deploy/team/dagster.yaml): PostgreSQL from the environment, the 1.13
concurrency block with one run per book, run monitoring and retries."""
from __future__ import annotations

import yaml

from .conftest import PROJECT

TEAM_YAML = PROJECT / "deploy" / "team" / "dagster.yaml"


def _scalars(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _scalars(value)
    elif isinstance(node, list):
        for value in node:
            yield from _scalars(value)
    else:
        yield node


def test_the_team_file_reads_the_database_from_the_environment_and_allows_one_run_per_book():
    config = yaml.safe_load(TEAM_YAML.read_text())
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_POSTGRES_URL"}}}
    assert not [value for value in _scalars(config) if isinstance(value, str) and "://" in value]   # no URL, no secret
    assert "run_queue" not in config and "run_coordinator" not in config   # the 1.13 concurrency block only
    assert config["concurrency"]["runs"]["tag_concurrency_limits"] == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]

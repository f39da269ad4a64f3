"""The lock file, by provider and target: old Bedrock files still read, providers' sections coexist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium.core.errors import InvalidRequest
from podium.providers._kit import lock

OLD_BEDROCK_FILE = {
    "version": 1,
    "workflows": {
        "research": {
            "bedrock": [
                {
                    "region": "us-east-1",
                    "endpoint_url": None,
                    "account_id": "123456789012",
                    "deployed_at": "2026-11-26T10:15:00+00:00",
                    "agents": {"researcher": {"agent_id": "AB12CD34EF", "alias_id": "GH56IJ78KL"}},
                },
                {
                    "region": "us-east-1",
                    "endpoint_url": "http://127.0.0.1:9999",
                    "account_id": "123456789012",
                    "deployed_at": "2026-11-26T10:16:00+00:00",
                    "agents": {"researcher": {"agent_id": "EMULATED01", "alias_id": "EMULATED02"}},
                },
            ]
        }
    },
}
AWS = {"region": "us-east-1", "endpoint_url": None}


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    (tmp_path / lock.LOCK_FILE).write_text(json.dumps(OLD_BEDROCK_FILE, indent=2))
    return tmp_path


def test_an_old_bedrock_lock_file_still_reads_by_region_and_endpoint(old_file: Path) -> None:
    assert lock.deployed(old_file, "research", "bedrock", AWS)["researcher"]["agent_id"] == "AB12CD34EF"
    emulated = {"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9999/"}  # trailing slash
    assert lock.deployed(old_file, "research", "bedrock", emulated)["researcher"]["agent_id"] == "EMULATED01"
    assert lock.deployed(old_file, "research", "bedrock", {"region": "eu-west-1", "endpoint_url": None}) == {}
    assert lock.deployed(old_file, "other-flow", "bedrock", AWS) == {}
    assert lock.deployed(old_file / "nowhere", "research", "bedrock", AWS) == {}


def test_two_providers_sections_coexist_and_a_deploy_rewrites_only_its_own_target(old_file: Path) -> None:
    vertex = {"project": "p1", "location": "us-central1"}
    lock.record(old_file, "research", "vertex", vertex, {"researcher": {"engine": "projects/p1/…/123"}})
    lock.record(
        old_file, "research", "bedrock", AWS, {"researcher": {"agent_id": "NEWAGENT01"}}, account_id="1"
    )
    data = json.loads((old_file / lock.LOCK_FILE).read_text())
    sections = data["workflows"]["research"]
    assert set(sections) == {"bedrock", "vertex"} and data["version"] == 1
    assert [e["endpoint_url"] for e in sections["bedrock"]] == ["http://127.0.0.1:9999", None]
    assert list(sections["bedrock"][-1]) == ["region", "endpoint_url", "account_id", "deployed_at", "agents"]
    assert lock.deployed(old_file, "research", "vertex", vertex) == {
        "researcher": {"engine": "projects/p1/…/123"}
    }
    assert lock.deployed(old_file, "research", "vertex", {**vertex, "location": "europe-west4"}) == {}
    assert lock.deployed(old_file, "research", "bedrock", AWS)["researcher"]["agent_id"] == "NEWAGENT01"


def test_a_broken_lock_file_says_how_to_fix_it(tmp_path: Path) -> None:
    (tmp_path / lock.LOCK_FILE).write_text("{not json")
    with pytest.raises(InvalidRequest) as caught:
        lock.deployed(tmp_path, "w", "azure", {"endpoint": "x"})
    assert caught.value.provider == "azure" and "podium deploy" in (caught.value.fix or "")
    (tmp_path / lock.LOCK_FILE).write_text("[1, 2]")
    with pytest.raises(InvalidRequest, match="not a podium lock file"):
        lock.record(tmp_path, "w", "azure", {"endpoint": "x"}, {})


def test_a_lock_file_only_for_other_targets_is_a_warning_naming_the_difference(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Any cloud: its agents deployed to one project endpoint are not used against another, and
    that is said, not passed over."""
    here = {"endpoint": "https://a.services.ai.azure.com/api/projects/p1"}
    there = {"endpoint": "https://a.services.ai.azure.com/api/projects/p2"}
    lock.record(tmp_path, "flow", "azure", here, {"writer": {"agent": "flow-writer", "version": "1"}})
    with caplog.at_level("WARNING", logger="podium"):
        assert lock.deployed(tmp_path, "flow", "azure", there) == {}
    said = " ".join(r.getMessage() for r in caplog.records)
    assert (
        "projects/p1" in said and "not for endpoint https://a.services.ai.azure.com/api/projects/p2" in said
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="podium"):
        assert lock.deployed(tmp_path, "flow", "azure", here)["writer"]["version"] == "1"
        assert lock.deployed(tmp_path, "other", "azure", there) == {}  # nothing deployed: nothing to say
    assert caplog.records == []


def test_a_fact_about_the_target_differs_only_where_both_sides_know_it(
    old_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The AWS account: an entry recording another is not used and the warning names both; an entry
    recording none (or a run that cannot tell its own) is no difference."""
    ours, theirs = {"account_id": "123456789012"}, {"account_id": "210987654321"}
    assert lock.deployed(old_file, "research", "bedrock", AWS, ours)["researcher"]["agent_id"] == "AB12CD34EF"
    assert lock.deployed(old_file, "research", "bedrock", AWS, {"account_id": None})  # unknown: no difference
    with caplog.at_level("WARNING", logger="podium"):
        assert lock.deployed(old_file, "research", "bedrock", AWS, theirs) == {}
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "account_id 123456789012" in said and "not for region us-east-1, endpoint_url (default)," in said
    assert said.rstrip().count("account_id 210987654321") == 1
    unrecorded = old_file / "no-account"
    unrecorded.mkdir()
    lock.record(unrecorded, "flow", "bedrock", AWS, {"w": {"agent_id": "X"}})  # no account_id
    assert lock.deployed(unrecorded, "flow", "bedrock", AWS, theirs) == {"w": {"agent_id": "X"}}

"""The review shows each head's network: the approval's JSON and page, under the process
runtime (which isolates nothing) and the host's network (a risk under any runtime)."""

from __future__ import annotations

from gitops_hive.hive import Hive
from tests.conftest import Review
from tests.repo_factory import git


async def proposal(hive: Hive, name: str, network: str | None) -> int:
    """Draft `name` with `[container] network` set (or left out) and submit it."""
    await hive.draft(name)
    repo = hive.ctx.layout.agent(name).proposed
    if network is not None:
        spec = repo / "agent.toml"
        spec.write_text(
            spec.read_text().replace("[container]\n", f'[container]\nnetwork = "{network}"\n')
        )
        git(repo, "commit", "-qam", f"network {network}")
    return (await hive.submit(name, None, source="test")).id


async def test_the_process_runtime_is_shown_as_not_isolated(review: Review) -> None:
    hive, client, auth = review
    number = await proposal(hive, "worker", None)
    approval = await (await client.get(f"/api/approvals/{number}", headers=auth)).json()
    assert approval["network"] == {
        "mode": "outbound",
        "isolated": False,
        "summary": "not isolated: the process runtime runs agents on the host's network",
    }
    assert approval["warnings"] == []
    page = await (await client.get(f"/approvals/{number}", headers=auth)).text()
    assert 'id="network">outbound: not isolated' in page
    assert "warning-network_host" not in page


async def test_a_head_asking_for_the_hosts_network_carries_a_warning(review: Review) -> None:
    hive, client, auth = review
    number = await proposal(hive, "worker", "host")
    approval = await (await client.get(f"/api/approvals/{number}", headers=auth)).json()
    assert approval["valid"] and approval["network"]["mode"] == "host"
    assert [w["code"] for w in approval["warnings"]] == ["network_host"]
    assert "every service on the host" in approval["warnings"][0]["message"]
    page = await (await client.get(f"/approvals/{number}", headers=auth)).text()
    assert 'id="warning-network_host"' in page
    assert "every service on the host" in page


async def test_an_invalid_head_has_no_network_to_show(review: Review) -> None:
    hive, client, auth = review
    number = await proposal(hive, "worker", "public")
    approval = await (await client.get(f"/api/approvals/{number}", headers=auth)).json()
    assert not approval["valid"]
    assert [e["key"] for e in approval["errors"]] == ["container.network"]
    assert approval["network"] is None and approval["warnings"] == []

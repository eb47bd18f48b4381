"""What a proposal changes, in words, and the risks flagged on top of the review."""

from __future__ import annotations

import pytest

from gitops_hive.approvals.changes import MASK, env_changes, spec_changes, spec_risks, wider_bash
from gitops_hive.spec import AgentSpec
from tests.repo_factory import git
from tests.test_web import Dash, dash  # noqa: F401  (the real app on a real hive)


@pytest.mark.parametrize(
    ("before", "after", "wider"),
    [
        (("Bash(git *)",), ("Bash(git *)",), []),
        (("Bash(git *)",), ("Bash(git log *)",), []),  # narrower
        (("Bash(git log *)",), ("Bash(git *)",), ["Bash(git *)"]),
        (("Bash(git *)",), ("Bash(git *)", "Bash(curl *)"), ["Bash(curl *)"]),
        (("Bash(git *)",), ("Bash",), ["Bash"]),
        (("Bash(git *)",), ("Bash(*)",), ["Bash(*)"]),
        (("Bash(git log:*)",), ("Bash(git log --oneline)",), []),
        ((), ("Read",), []),
    ],
)
def test_a_bash_pattern_is_wider_when_it_matches_what_no_earlier_one_did(
    before: tuple[str, ...], after: tuple[str, ...], wider: list[str]
) -> None:
    assert wider_bash(before, after) == wider


def test_env_values_are_masked_where_the_key_looks_secret() -> None:
    changes = env_changes(
        {"API_TOKEN": "old-secret", "REGION": "eu", "GONE": "x"},
        {"API_TOKEN": "new-secret", "REGION": "us", "DB_PASSWORD": "hunter2", "MODE": "fast"},
    )
    assert changes == {
        "added": {"DB_PASSWORD": MASK, "MODE": "fast"},
        "removed": ["GONE"],
        "changed": {
            "API_TOKEN": {"from": MASK, "to": MASK},
            "REGION": {"from": "eu", "to": "us"},
        },
    }


def test_risks_name_wider_bash_new_tools_packages_and_mounts() -> None:
    before = AgentSpec(description="w", tools_allow=("Bash(git *)",))
    after = AgentSpec(
        description="w",
        tools_allow=("Bash(git *)", "Bash(curl *)", "Write"),
        packages=("ripgrep",),
        binds=("/cache",),
    )
    assert [r.code for r in spec_risks(before, after)] == [
        "bash_wider",
        "tool_added",
        "packages_added",
        "mounts_changed",
    ]
    changes = spec_changes(before, after, (10, 25))
    assert changes["tools"] == {"added": ["Bash(curl *)", "Write"], "removed": []}
    assert changes["packages"] == {"added": ["ripgrep"], "removed": []}
    assert changes["container"]["binds"] == {"added": ["/cache"], "removed": []}
    assert changes["prompt_bytes"] == {"from": 10, "to": 25}
    # Narrowing tools and packages is no risk; any change of mounts is one.
    assert [r.code for r in spec_risks(after, before)] == ["mounts_changed"]


async def test_the_review_shows_changes_and_risks_and_never_a_secret(dash: Dash) -> None:  # noqa: F811
    spec = (
        b'description = "w"\nmodel = "sonnet"\n[container]\npackages = ["ripgrep"]\n'
        b'env = { API_TOKEN = "s3cr3t-value", REGION = "eu" }\n'
        b'[tools]\nallow = ["Bash(git *)", "Bash(curl *)"]\n'
    )
    approval_id = await dash.proposal("worker", {"agent.toml": spec, "prompt.md": b"hello\n"})
    view = await dash.hive.approval(approval_id)
    assert view["valid"], view["errors"]
    changes = view["changes"]
    assert changes["packages"]["added"] == ["ripgrep"]
    assert changes["env"]["added"] == {"API_TOKEN": MASK, "REGION": "eu"}
    assert changes["model"] is not None and changes["model"]["to"] == "sonnet"
    assert {r["code"] for r in view["risks"]} == {"bash_wider", "packages_added"}
    page = await dash.page(f"/approvals/{approval_id}")
    assert 'id="risks"' in page and "Bash(curl *)" in page and "ripgrep" in page
    assert (
        "s3cr3t-value" not in str(view["changes"])
        and "s3cr3t-value" not in page.split('id="changes"')[1].split("</section>")[0]
    )


async def test_a_proposal_carrying_denied_work_is_named_whether_same_sha_or_recommitted(
    dash: Dash,  # noqa: F811
) -> None:
    first = await dash.proposal("worker", {"prompt.md": b"one\n"})
    head = (await dash.hive.approval(first))["head"]
    await dash.hive.approve(first, head, "test", wait=True)
    repo = dash.hive.ctx.layout.agent("worker").proposed
    (repo / "agent.toml").write_text(
        (repo / "agent.toml").read_text().replace("allow = []", 'allow = ["Bash(rg *)"]')
    )
    git(repo, "commit", "-qam", "Install ripgrep")
    denied = await dash.hive.submit("worker", None, source="test")
    refused = await dash.hive.deny(denied.id, "no new tools this week", "operator")
    assert refused.status.value == "denied"
    # Same sha: a new commit on top of the denied one.
    (repo / "CHANGELOG.md").write_text("- started\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Keep a changelog")
    carrying = await dash.hive.submit("worker", None, source="test")
    warnings = (await dash.hive.approval(carrying.id))["warnings"]
    assert [(w["code"], w["approval"], w["reason"]) for w in warnings] == [
        ("carries_denied", denied.id, "no new tools this week")
    ]
    page = await dash.page(f"/approvals/{carrying.id}")
    assert f'id="carries-denied-{denied.id}"' in page
    # Another sha, the same change: reset to the deployed commit and commit it again.
    git(repo, "reset", "-q", "--hard", head)
    (repo / "agent.toml").write_text(
        (repo / "agent.toml").read_text().replace("allow = []", 'allow = ["Bash(rg *)"]')
    )
    git(repo, "commit", "-qam", "Totally new work")
    again = await dash.hive.submit("worker", None, source="test")
    assert [w["approval"] for w in (await dash.hive.approval(again.id))["warnings"]] == [denied.id]
    # Dropped: reset and a different change carries nothing.
    git(repo, "reset", "-q", "--hard", head)
    (repo / "NOTES.md").write_text("clean\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Unrelated")
    clean = await dash.hive.submit("worker", None, source="test")
    assert (await dash.hive.approval(clean.id))["warnings"] == []


async def test_the_deny_notice_tells_the_manager_how_to_drop_the_change(
    dash: Dash,  # noqa: F811
) -> None:
    await dash.hive.draft("manager")
    approval_id = await dash.proposal("worker", {"prompt.md": b"one\n"})
    await dash.hive.deny(approval_id, "not now", "operator")
    inbox = await dash.hive.peek_inbox("manager", 0)
    notice = next(m for m in inbox.messages if m.kind == "approval_denied")
    assert "not now" in notice.body and "git revert" in notice.body
    assert "reset its main to the deployed commit" in notice.data["how_to_drop"]

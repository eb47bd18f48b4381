"""`[container] packages` in review: the process runtime cannot install them and says so
(a warning, so the fixtures and the demo, which run under process, stay approvable); a name
apt-get could take for an option is invalid under any runtime."""

from __future__ import annotations

import pytest

from gitops_hive.approvals.risks import package_warnings
from gitops_hive.spec import validate_spec
from tests.conftest import Review
from tests.repo_factory import git


async def packages_proposal(review: Review, packages: str) -> int:
    hive, _, _ = review
    await hive.draft("worker")
    repo = hive.ctx.layout.agent("worker").proposed
    spec = repo / "agent.toml"
    spec.write_text(spec.read_text().replace("packages = []", f"packages = {packages}"))
    git(repo, "commit", "--allow-empty", "-qam", f"packages {packages}")
    return (await hive.submit("worker", None, source="test")).id


async def test_packages_under_the_process_runtime_carry_a_warning(review: Review) -> None:
    _, client, auth = review
    number = await packages_proposal(review, '["jq"]')
    approval = await (await client.get(f"/api/approvals/{number}", headers=auth)).json()
    assert approval["valid"]
    [warning] = approval["warnings"]
    assert warning["code"] == "packages_ignored"
    assert (
        "[container] packages (jq) cannot be installed under the process runtime"
        in (warning["message"])
    )
    assert 'runtime.kind = "nspawn"' in warning["message"]
    page = await (await client.get(f"/approvals/{number}", headers=auth)).text()
    assert 'id="warning-packages_ignored"' in page


async def test_no_packages_no_warning(review: Review) -> None:
    _, client, auth = review
    number = await packages_proposal(review, "[]")
    approval = await (await client.get(f"/api/approvals/{number}", headers=auth)).json()
    assert approval["warnings"] == []


def test_nspawn_installs_packages_so_it_warns_of_nothing() -> None:
    assert package_warnings(("jq",), "nspawn") == []
    assert [w.code for w in package_warnings(("jq",), "process")] == ["packages_ignored"]


@pytest.mark.parametrize("name", ["-oAPT::Get::Foo=1", "jq --reinstall", "Jq", "j", "jq;id", ""])
def test_a_package_name_apt_could_misread_is_invalid(name: str) -> None:
    spec, problems = validate_spec(f'description = "x"\n[container]\npackages = ["{name}"]\n')
    assert spec is None
    [problem] = problems
    assert problem.key == "container.packages" and "not a Debian package name" in problem.message
    assert problem.line == 3


def test_debian_package_names_are_valid() -> None:
    names = '["jq", "g++", "libstdc++6", "python3.11", "ca-certificates"]'
    spec, problems = validate_spec(f'description = "x"\n[container]\npackages = {names}\n')
    assert problems == [] and spec is not None and "g++" in spec.packages

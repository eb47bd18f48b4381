"""agent.toml validation: required keys, types, unknown keys, and where each problem is."""

from __future__ import annotations

import json

import pytest

from gitops_hive.spec import SCHEMA, SPEC_FILE, AgentSpec, Problem, validate_spec
from tests.repo_factory import FIXTURES

WORKER = FIXTURES / "worker"


def line_of(text: str, start: str) -> int:
    """The 1-based number of the one line of `text` starting with `start`."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def test_the_initial_worker_spec_is_valid_and_fully_parsed() -> None:
    spec, problems = validate_spec((WORKER / "01-initial" / "agent.toml").read_text())
    assert problems == []
    assert spec == AgentSpec(
        description="worker: answers questions from the manager",
        model="sonnet",
        packages=("git",),
        env={"WORKER_MODE": "careful"},
        tools_allow=("Bash(git status)",),
        recipients=("manager",),
    )


@pytest.mark.parametrize("step", ["01-initial", "02-add-tool", "04-failing-start"])
def test_every_valid_worker_fixture_step_passes(step: str) -> None:
    spec, problems = validate_spec((WORKER / step / "agent.toml").read_text())
    assert problems == [] and spec is not None


def test_the_invalid_spec_fixture_names_file_line_and_key_of_each_problem() -> None:
    text = (WORKER / "03-invalid-spec" / "agent.toml").read_text()
    spec, problems = validate_spec(text)
    assert spec is None
    by_key = {p.key: p for p in problems}
    assert set(by_key) == {"model", "container.privileged"}
    assert by_key["model"].line == line_of(text, "model = 3")
    assert by_key["model"].message == "must be a string"
    assert by_key["container.privileged"].line == line_of(text, "privileged")
    assert "unknown key" in by_key["container.privileged"].message
    for problem in problems:
        assert problem.file == SPEC_FILE
        assert str(problem).startswith(f"{SPEC_FILE}:{problem.line}: {problem.key}: ")


def test_a_missing_description_is_the_one_required_key_problem() -> None:
    spec, problems = validate_spec('model = "sonnet"\n')
    assert spec is None
    problem = only(problems)
    assert (problem.file, problem.key) == (SPEC_FILE, "description")
    assert "required" in problem.message
    assert [k for k, f in SCHEMA.items() if f.required] == ["description"]


def test_only_description_is_needed() -> None:
    spec, problems = validate_spec('description = "minimal"\n')
    assert problems == []
    assert spec == AgentSpec(description="minimal")


@pytest.mark.parametrize(
    ("text", "key", "line_start", "message"),
    [
        ("description = 3\n", "description", "description", "must be a string"),
        ('description = "x"\nmodel = true\n', "model", "model", "must be a string"),
        (
            'description = "x"\n[container]\npackages = "git"\n',
            "container.packages",
            "packages",
            "must be a list of strings",
        ),
        (
            'description = "x"\n[container]\npackages = ["git", 2]\n',
            "container.packages",
            "packages",
            "must be a list of strings",
        ),
        (
            'description = "x"\n[container]\nenv = ["A=1"]\n',
            "container.env",
            "env",
            "must be a table of string values",
        ),
        (
            'description = "x"\n[container]\nenv = { A = 1 }\n',
            "container.env",
            "env",
            "must be a table of string values",
        ),
        (
            'description = "x"\n[tools]\nallow = "Bash(*)"\n',
            "tools.allow",
            "allow",
            "must be a list of strings",
        ),
        (
            'description = "x"\n[messaging]\nrecipients = [[]]\n',
            "messaging.recipients",
            "recipients",
            "must be a list of strings",
        ),
        (
            'description = "x"\ncontainer.binds = 3\n',
            "container.binds",
            "container.binds",
            "must be a list of strings",
        ),
    ],
)
def test_wrong_types_name_the_key_and_its_line(
    text: str, key: str, line_start: str, message: str
) -> None:
    spec, problems = validate_spec(text)
    assert spec is None
    problem = only(problems)
    assert (problem.file, problem.key, problem.message) == (SPEC_FILE, key, message)
    assert problem.line == line_of(text, line_start)


@pytest.mark.parametrize(
    ("text", "key", "line_start"),
    [
        ('description = "x"\nprivileged = true\n', "privileged", "privileged"),
        ('description = "x"\n[network]\nmode = "host"\n', "network", "[network]"),
        ('description = "x"\n[tools]\ndeny = []\n', "tools.deny", "deny"),
        ('description = "x"\n[container]\n"user" = "root"\n', "container.user", '"user"'),
        ('description = "x"\ncontainer.root = true\n', "container.root", "container.root"),
        ('description = "x"\ncontainer = "big"\n', "container", "container"),
        ('description = "x"\n[[tools]]\nallow = []\n', "tools", "[[tools]]"),
    ],
)
def test_unknown_keys_are_rejected_with_their_line(text: str, key: str, line_start: str) -> None:
    spec, problems = validate_spec(text)
    assert spec is None
    problem = only(problems)
    assert problem.key == key
    assert "unknown key" in problem.message
    assert problem.line == line_of(text, line_start)


def test_every_problem_is_reported_at_once() -> None:
    text = 'model = 1\nextra = "y"\n[tools]\nallow = 2\n'
    _, problems = validate_spec(text)
    assert {p.key for p in problems} == {"model", "extra", "description", "tools.allow"}
    lines = {p.key: p.line for p in problems}
    assert lines == {
        "model": 1,
        "extra": 2,
        "description": None,
        "tools.allow": line_of(text, "allow"),
    }


def test_a_key_under_a_subtable_header_gets_the_header_line() -> None:
    text = 'description = "x"\n\n[container.env]\nlower = "1"\n'
    _, problems = validate_spec(text)
    problem = only(problems)
    assert problem.key == "container.env"
    assert "'lower'" in problem.message
    assert problem.line == line_of(text, "[container.env]")


def test_the_same_leaf_in_another_table_does_not_steal_the_line() -> None:
    text = (
        'description = "x"\n'
        "[tools]\n"
        'allow = ["ok"]\n'
        "[messaging]\n"
        "allow = 1\n"
        'recipients = ["manager"]\n'
    )
    _, problems = validate_spec(text)
    problem = only(problems)
    assert problem.key == "messaging.allow"
    assert problem.line == 5


def test_invalid_toml_reports_its_line() -> None:
    text = 'description = "x"\n\n[container\npackages = []\n'
    spec, problems = validate_spec(text)
    assert spec is None
    problem = only(problems)
    assert problem.file == SPEC_FILE and problem.key is None
    assert problem.message.startswith("not valid TOML")
    assert problem.line == 3


def test_a_duplicate_key_is_invalid_toml() -> None:
    _, problems = validate_spec('description = "a"\ndescription = "b"\n')
    problem = only(problems)
    assert "not valid TOML" in problem.message and problem.line == 2


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ('{ lower = "1" }', "UPPER_CASE"),
        ('{ "A-B" = "1" }', "UPPER_CASE"),
        ('{ PATH = "/bin" }', "reserved"),
        ('{ LD_PRELOAD = "/x.so" }', "reserved"),
        ('{ HIVE_TOKEN = "t" }', "reserved"),
    ],
)
def test_bad_environment_names_are_refused(env: str, reason: str) -> None:
    text = f'description = "x"\n[container]\nenv = {env}\n'
    spec, problems = validate_spec(text)
    assert spec is None
    problem = only(problems)
    assert problem.key == "container.env" and reason in problem.message
    assert problem.line == 3


@pytest.mark.parametrize("recipient", ["../manager", "Manager", "", "a/b"])
def test_recipients_must_be_agent_names(recipient: str) -> None:
    text = f'description = "x"\n[messaging]\nrecipients = ["manager", "{recipient}"]\n'
    _, problems = validate_spec(text)
    problem = only(problems)
    assert problem.key == "messaging.recipients" and repr(recipient) in problem.message


def test_a_blank_description_is_refused() -> None:
    _, problems = validate_spec('description = "  \\t "\n')
    problem = only(problems)
    assert (problem.key, problem.message, problem.line) == ("description", "must not be empty", 1)


def test_problem_json_round_trips_its_fields() -> None:
    _, problems = validate_spec("description = 3\n")
    assert only(problems).to_json() == {
        "file": SPEC_FILE,
        "line": 1,
        "key": "description",
        "message": "must be a string",
    }


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("Bash(curl *),Write", "comma"),
        ("", "is empty"),
        ("   ", "is empty"),
        ("Bash(git *", "balanced parentheses"),
        ("Bash(git *))", "unbalanced"),
        ("rm -rf /", "not a tool name"),
        ("Shell", "'Shell' is not a tool of the agent CLI"),
        ("Bash()", "empty specifier"),
        ("mcp__", "mcp__SERVER"),
        ("Read\n", "control characters"),
    ],
)
def test_an_allow_list_entry_outside_the_cli_grammar_is_refused_with_its_line(
    entry: str, reason: str
) -> None:
    text = f'description = "w"\n\n[tools]\nallow = ["Read", {json.dumps(entry)}]\n'
    spec, problems = validate_spec(text)
    assert spec is None
    assert [(p.key, p.line) for p in problems] == [("tools.allow", 4)]
    assert reason in problems[0].message and repr(entry) in problems[0].message


@pytest.mark.parametrize(
    "entry",
    ["Read", "Bash", "Bash(git *)", "Bash(git log --oneline:*)", "WebFetch(domain:docs.rs)",
     "Edit(src/(a)/b.py)", "mcp__hive", "mcp__hive__send", "mcp__my-server__do_it"],
)  # fmt: skip
def test_allow_list_entries_in_the_cli_grammar_pass(entry: str) -> None:
    spec, problems = validate_spec(f'description = "w"\n[tools]\nallow = [{json.dumps(entry)}]\n')
    assert problems == [] and spec is not None and spec.tools_allow == (entry,)


@pytest.mark.parametrize("mode", ["outbound", "none", "host"])
def test_the_network_is_one_of_three_modes(mode: str) -> None:
    spec, problems = validate_spec(f'description = "x"\n[container]\nnetwork = "{mode}"\n')
    assert problems == [] and spec is not None
    assert spec.network == mode


def test_without_a_network_key_the_container_gets_out_through_nat() -> None:
    spec, _ = validate_spec('description = "x"\n')
    assert spec is not None and spec.network == "outbound"


@pytest.mark.parametrize("value", ["public", "HOST", "", "host "])
def test_another_network_names_the_key_its_line_and_the_allowed_values(value: str) -> None:
    text = f'description = "x"\n[container]\npackages = []\nnetwork = "{value}"\n'
    spec, problems = validate_spec(text)
    assert spec is None
    problem = only(problems)
    assert (problem.key, problem.line) == ("container.network", line_of(text, "network"))
    assert problem.message == f'must be one of "outbound", "none", "host", not {value!r}'


def test_a_network_that_is_not_a_string_is_a_type_problem() -> None:
    text = 'description = "x"\ncontainer.network = false\n'
    problem = only(validate_spec(text)[1])
    assert (problem.key, problem.message) == ("container.network", "must be a string")
    assert problem.line == line_of(text, "container.network")

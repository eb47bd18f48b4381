"""The settings table of hive.toml: every key's type, default and help, which drive parsing
(config.py), the commented template `init` writes, and docs/configuration.md."""

from __future__ import annotations

from gitops_hive.nspawn_settings import NSPAWN_SETTINGS
from gitops_hive.setting_types import Duration as Duration
from gitops_hive.setting_types import Setting as Setting

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "manager",
        str,
        "manager",
        "The agent that may propose changes for others and message anyone.",
    ),
    Setting(
        "default_model",
        str,
        "sonnet",
        "Model used when neither a git note nor agent.toml names one.",
    ),
    Setting("models", list, ["haiku", "sonnet", "opus"], "Models an override may name."),
    Setting(
        "runtime.kind",
        str,
        "process",
        "process: supervised children of the controller; nspawn: unprivileged containers "
        "(systemd-nspawn, root, one host uid range per agent).",
    ),
    Setting(
        "runtime.command",
        list,
        ["{python}", "-m", "gitops_hive.agent.harness"],
        "The command the runtime runs for each agent (the turn harness); {python} is the "
        "controller's own interpreter.",
    ),
    Setting(
        "runtime.start_grace",
        float,
        1.0,
        "Seconds a new agent must stay up before its deploy counts as started.",
    ),
    Setting(
        "runtime.restart_backoff",
        float,
        1.0,
        "First delay, in seconds, before restarting an agent that exited.",
    ),
    Setting("runtime.restart_backoff_max", float, 60.0, "Longest restart delay, in seconds."),
    Setting(
        "runtime.crash_limit",
        int,
        5,
        "After this many crashes within runtime.crash_window the agent stays down (crashed) "
        "until `hivectl start` or a new deploy.",
    ),
    Setting(
        "runtime.crash_window", float, 300.0, "The window, in seconds, crashes are counted in."
    ),
    Setting(
        "runtime.health_window",
        float,
        60.0,
        "A deploy that crashes runtime.health_crashes times within this many seconds of "
        "starting is rolled back to the previous deployment.",
    ),
    Setting("runtime.health_crashes", int, 3, "Crashes that fail a new deploy's health gate."),
    *NSPAWN_SETTINGS,
    Setting(
        "harness.agent_command",
        list,
        [
            "claude",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--model",
            "{model}",
            "--append-system-prompt",
            "{system_prompt}",
            "--mcp-config",
            "{mcp_config}",
            "--allowedTools",
            "{allowed_tools}",
        ],
        "The agent CLI the harness runs each turn, the messages on its stdin. Placeholders: "
        "{model}, {system_prompt}, {mcp_config}, {allowed_tools}, {python}.",
    ),
    Setting(
        "harness.turn_timeout", float, 1800.0, "Longest turn, in seconds, before it is killed."
    ),
    Setting(
        "harness.notes_limit",
        int,
        65536,
        "Bytes of an agent's /state/notes.md before a short session compacts it (the old file "
        "is kept in notes-archive/); 0 never compacts.",
    ),
    Setting(
        "harness.compact_command",
        list,
        ["claude", "-p", "--model", "{model}"],
        "The notes-compaction session: the prompt and the notes on its stdin, the new notes on "
        "its stdout. Placeholders as in agent_command.",
    ),
    Setting("limits.max_file_bytes", int, 1_048_576, "Largest file allowed in an agent repo."),
    Setting(
        "limits.max_tree_bytes", int, 20_971_520, "Largest total size of an agent repo's tree."
    ),
    Setting("limits.max_files", int, 2000, "Most files allowed in an agent repo's tree."),
    Setting(
        "limits.max_depth",
        int,
        32,
        "Most folders a path of an agent repo may be nested in; listing a tree stops past "
        "this depth, and past limits.max_files files.",
    ),
    Setting(
        "limits.read_timeout",
        Duration,
        Duration(5),
        'Longest a read of an agent\'s proposed/ repo may take (seconds, or e.g. "10s"); '
        "past it the agent shows unreadable and the read's thread is left behind.",
    ),
    Setting(
        "limits.message_bytes", int, 65_536, "Largest message body an agent may send, in bytes."
    ),
    Setting(
        "limits.inbox_depth",
        int,
        1000,
        "Most unread messages an inbox holds; a send to a full inbox is refused.",
    ),
    Setting(
        "limits.agent_connections",
        int,
        16,
        "Connections one agent may hold open on its socket at once; more are answered 503 "
        "and closed at once. Each costs the controller an open file (see docs/architecture.md).",
    ),
    Setting(
        "limits.web_connections",
        int,
        128,
        "Connections open at once on the dashboard's listener, and on the control socket.",
    ),
    Setting(
        "limits.request_head_timeout",
        float,
        5.0,
        "Seconds a peer of any socket the controller serves has to send a request's line and "
        "headers (from connecting, or from the previous reply); slower peers are cut off.",
    ),
    Setting(
        "limits.request_body_timeout",
        float,
        10.0,
        "Seconds a peer has to send a request's body once its head arrived; slower peers get "
        "408 and are cut off. Answers (a parked recv, the event stream) take what they take.",
    ),
    Setting("web.listen", str, "127.0.0.1:8470", "Where `hivectl serve` serves the dashboard."),
    Setting(
        "web.max_diff_files",
        int,
        100,
        "Files an approval page shows with their lines; later ones are listed collapsed "
        "(`hivectl show ID -- PATH` shows any one in full).",
    ),
    Setting(
        "web.max_diff_lines",
        int,
        2000,
        "Changed lines of one file an approval page shows; a file with more is summarised.",
    ),
    Setting(
        "web.max_page_bytes",
        int,
        2_000_000,
        "About how many bytes of diff an approval page holds: files past it are listed "
        "collapsed, and past that only counted.",
    ),
    Setting(
        "terminal.idle_timeout",
        Duration,
        Duration(900),
        "A terminal into an agent with no key typed for this long is ended.",
    ),
    Setting(
        "terminal.output_rate",
        int,
        262_144,
        "Bytes per second a terminal shows at most; past it the shell waits on its output.",
    ),
    Setting(
        "terminal.shell",
        list,
        ["/bin/bash", "-l"],
        "The shell a terminal runs (inside the container under nspawn, in the state folder "
        "under process).",
    ),
    Setting(
        "telemetry.raw_retention",
        Duration,
        Duration(7 * 86400),
        'How long raw stats rows are kept (seconds, or e.g. "7d"); older ones are rolled '
        "up into telemetry.rollup_bucket buckets.",
    ),
    Setting(
        "telemetry.rollup_bucket",
        Duration,
        Duration(300),
        "Width of a rolled-up bucket (count, sum, min, max, p50, p95 per key).",
    ),
    Setting(
        "telemetry.rollup_retention",
        Duration,
        Duration(90 * 86400),
        "How long rolled-up buckets are kept.",
    ),
    Setting(
        "telemetry.raw_span",
        Duration,
        Duration(6 * 3600),
        "/api/stats returns raw points for windows up to this long, buckets for longer ones.",
    ),
    Setting(
        "telemetry.stuck_after",
        Duration,
        Duration(600),
        "An agent is stuck (red on the dashboard) when a message has waited in its inbox "
        "this long.",
    ),
    Setting(
        "telemetry.sample_interval",
        Duration,
        Duration(60),
        "Every this often the controller samples each inbox's depth and the approval queue "
        "(they are also sampled whenever they change).",
    ),
)

BY_KEY = {s.key: s for s in SETTINGS}
RUNTIME_KINDS = ("process", "nspawn")
SUPERVISORS = ("auto", "systemd", "controller")
UID_RANGE = 65536  # uids per agent under nspawn --private-users
UID_MAX = 2**32 - 2
AGENT_SUBNET = 8  # addresses per agent in nspawn.network_range: a /29

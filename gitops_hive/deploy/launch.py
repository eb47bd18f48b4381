"""Launching a pinned commit: materialise its tree, build the agent's environment and binds,
and hand it to the runtime."""

from __future__ import annotations

import shutil
from pathlib import Path

from gitops_hive import repos
from gitops_hive.agents import deployed_sha
from gitops_hive.approvals.submit import validate_pinned
from gitops_hive.context import HiveContext, blocking
from gitops_hive.deploy import manager_view, uids
from gitops_hive.errors import RuntimeFailure
from gitops_hive.overrides.effective import effective_at
from gitops_hive.protocol import CONTAINER_PUSH_REPO, AgentEnvironment
from gitops_hive.pushes.targets import make_manager_push_repo
from gitops_hive.runtime.base import AgentLaunch, Bind
from gitops_hive.runtime.bind_folders import make_bind_folders
from gitops_hive.runtime.build_steps import Progress
from gitops_hive.runtime.images import Image
from gitops_hive.runtime.nspawn import CONTAINER_TOOLS, python_binds
from gitops_hive.spec import NetworkMode


async def manager_binds(ctx: HiveContext) -> tuple[Bind, ...]:
    """In its container the manager commits to every other agent's repo and reads its state,
    at /agents, which follows new drafts while it runs (deploy/manager_view.py), and pushes to
    its own /hive.git."""
    push_repo = await blocking(
        make_manager_push_repo, ctx.layout, ctx.config.manager, ctx.runtime.private_users
    )
    return (
        Bind(push_repo, CONTAINER_PUSH_REPO, writable=True, hand_over=True),
        await manager_view.lay_out(ctx),
    )


def agent_cli_binds(command: str, image: Image) -> tuple[Bind, ...]:
    """The agent CLI (harness.agent_command's program) lives on the host: a file the image
    lacks is bound in read-only, first on PATH. What it needs besides goes in packages."""
    found = shutil.which(command)
    if found is None:
        return ()
    program = Path(found).resolve()
    if image.holds(program) or any(program.is_relative_to(p) for p in python_binds()):
        return ()  # in the image, or in the Python environment bound in anyway
    return (Bind(program, f"{CONTAINER_TOOLS}/{Path(command).name}"),)


async def launch_for(
    ctx: HiveContext,
    agent_name: str,
    sha: str,
    env: dict[str, str],
    network: NetworkMode = NetworkMode.OUTBOUND,
    image: Image | None = None,
    container_binds: tuple[str, ...] = (),
) -> AgentLaunch:
    """What the runtime needs to run `sha`: paths, environment, uid base, binds (agent.toml's
    own under private users, each a folder of its own kept across deploys), network, image."""
    agent = ctx.layout.agent(agent_name)
    base = await uids.uid_base(ctx, agent_name) if ctx.runtime.private_users else None
    binds: tuple[Bind, ...] = (
        () if image is None else agent_cli_binds(ctx.config.agent_command[0], image)
    )
    if base is not None and agent_name == ctx.config.manager:
        binds += await manager_binds(ctx)
    if base is not None:
        mounted = [str(path) for path in python_binds()]
        binds += await blocking(make_bind_folders, agent, container_binds, base, mounted)
    return AgentLaunch(
        agent=agent.name,
        sha=sha,
        tree=agent.tree(sha),
        state=agent.state,
        run=agent.run,
        env=env,
        uid_base=base,
        binds=binds,
        network=network,
        image=image,
    )


async def start_commit(
    ctx: HiveContext,
    agent_name: str,
    sha: str,
    model_note: str | None = None,
    progress: Progress | None = None,
) -> None:
    """Materialise a pinned, valid commit, build its image (before anything running is
    touched, so a failed build leaves the old agent running) and have the runtime run it."""
    spec, problems = await validate_pinned(ctx, agent_name, sha)
    if spec is None:
        raise RuntimeFailure(
            f"commit {sha} is not valid: {problems[0]}", log="\n".join(str(p) for p in problems)
        )
    agent = ctx.layout.agent(agent_name)
    await blocking(repos.materialize, agent.applied, sha, agent.tree(sha), ctx.limits)
    environment = AgentEnvironment(
        agent=agent_name,
        commit=sha,
        tree=agent.tree(sha),
        state=agent.state,
        socket=agent.socket,
        model=(await effective_at(ctx, agent_name, sha, model_note)).model,
        agent_command=tuple(ctx.config.agent_command),
        turn_timeout=float(ctx.config["harness.turn_timeout"]),
        compact_command=tuple(ctx.config.compact_command),
        notes_limit=int(ctx.config["harness.notes_limit"]),
        allowed_tools=spec.tools_allow,
    )
    report = progress or _quiet
    image = None
    if ctx.images is not None:
        image = await ctx.images.ensure(spec.packages, report)
    # The runtime lays the paths its container sees over these host paths.
    env = {**spec.env, **environment.to_environ()}
    launch = await launch_for(ctx, agent_name, sha, env, spec.network, image, spec.binds)
    grace = ctx.config["runtime.start_grace"]
    report(f"starting {sha[:12]}: it counts as started once it has stayed up {grace:g} s")
    if agent_name != ctx.config.manager and await deployed_sha(ctx, agent_name) is None:
        await manager_view.show(ctx, agent_name, launching=True)  # its state: read-only now
    await ctx.runtime.apply(launch)


def _quiet(line: str) -> None:
    """Progress nobody watches (a start at boot, a start by hand)."""

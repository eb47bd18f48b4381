# gitops-hive built from this checkout's pyproject.toml (hatchling). The Python dependency
# list mirrors [project] dependencies; tests/test_nix.py keeps the two in step.
{ lib, python3Packages, git }:

python3Packages.buildPythonApplication {
  pname = "gitops-hive";
  version = "0.1.0";
  pyproject = true;
  src = lib.cleanSource ../.;

  build-system = [ python3Packages.hatchling ];

  dependencies = with python3Packages; [
    pygit2
    inotify-simple
    click
    tomlkit
    aiohttp
    aiosqlite
    jeepney
    jinja2
    aiohttp-jinja2
    pygments
    mcp
  ];

  makeWrapperArgs = [ "--prefix" "PATH" ":" (lib.makeBinPath [ git ]) ];

  # The test suite needs root, systemd-nspawn and Chromium; the flake's check parses instead.
  doCheck = false;

  meta = {
    description = "A git-native GitOps controller for a hive of AI agents";
    license = lib.licenses.mit;
    mainProgram = "hivectl";
  };
}

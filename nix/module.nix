# NixOS module: services.gitops-hive, the controller of a hive of AI agents.
#
# Each option below sets one key of hive.toml; ./options.json names that key and
# ./defaults.json holds the defaults, both checked against the controller's own settings
# table by tests/test_nix.py, so this module cannot drift from the code.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.gitops-hive;
  keys = builtins.fromJSON (builtins.readFile ./options.json);
  defaults = builtins.fromJSON (builtins.readFile ./defaults.json);
  # hive.toml as nested tables: "web.listen" -> { web = { listen = ...; }; }
  setKey = acc: option:
    lib.recursiveUpdate acc (lib.setAttrByPath (lib.splitString "." keys.${option}) cfg.${option});
  settings = lib.recursiveUpdate (lib.foldl' setKey { } (builtins.attrNames keys)) cfg.extraSettings;
  hiveToml = (pkgs.formats.toml { }).generate "hive.toml" settings;
in
{
  options.services.gitops-hive = {
    enable = lib.mkEnableOption "the gitops-hive controller";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./package.nix { }";
      description = "The gitops-hive package (hivectl).";
    };

    root = lib.mkOption {
      type = lib.types.path;
      default = "/var/lib/gitops-hive";
      description = "The hive root: hive.toml, hive.db, agents/, run/.";
    };

    listen = lib.mkOption {
      type = lib.types.str;
      default = defaults."web.listen";
      description = "Where the dashboard listens (HOST:PORT); keep it on loopback.";
    };

    runtime = lib.mkOption {
      type = lib.types.enum [ "process" "nspawn" ];
      default = defaults."runtime.kind";
      description = "How agents run: supervised processes, or unprivileged nspawn containers.";
    };

    manager = lib.mkOption {
      type = lib.types.str;
      default = defaults."manager";
      description = "The agent that may propose changes for others and message anyone.";
    };

    defaultModel = lib.mkOption {
      type = lib.types.str;
      default = defaults."default_model";
      description = "Model used when neither a git note nor agent.toml names one.";
    };

    models = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = defaults."models";
      description = "Models an override or an agent.toml may name.";
    };

    uidPoolStart = lib.mkOption {
      type = lib.types.int;
      default = defaults."nspawn.uid_pool_start";
      description = "First host uid of the agents' ranges (a multiple of 65536).";
    };

    uidPoolSize = lib.mkOption {
      type = lib.types.int;
      default = defaults."nspawn.uid_pool_size";
      description = "How many 65536-uid ranges the pool holds: one per agent.";
    };

    agentCommand = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = defaults."harness.agent_command";
      description = "The agent CLI each turn runs ({allowed_tools} a whole item).";
    };

    extraSettings = lib.mkOption {
      type = (pkgs.formats.toml { }).type;
      default = { };
      description = "Any other hive.toml keys (docs/configuration.md lists them).";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ cfg.package ];

    systemd.services.gitops-hive = {
      description = "gitops-hive controller (${toString cfg.root})";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      # util-linux: mount for the manager's live /agents, nsenter for terminals.
      path = [ pkgs.git pkgs.systemd pkgs.util-linux ];
      environment.HIVE_ROOT = toString cfg.root;
      preStart = ''
        ${cfg.package}/bin/hivectl --root ${toString cfg.root} init
        install -m 0600 ${hiveToml} ${toString cfg.root}/hive.toml
      '';
      serviceConfig = {
        Type = "simple";
        ExecStart = "${cfg.package}/bin/hivectl --root ${toString cfg.root} serve";
        # root: nspawn maps each agent to its own unprivileged uid range.
        User = "root";
        Restart = "on-failure";
        RestartSec = "2s";
        KillMode = "mixed";
        TimeoutStopSec = "30s";
        Delegate = true;
        LimitNOFILE = 65536;
        UMask = "0077";
        ProtectSystem = "full";
        ProtectHome = "read-only";
        ReadWritePaths = [ (toString cfg.root) ];
        PrivateTmp = true;
        ProtectClock = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        LockPersonality = true;
        RestrictRealtime = true;
        SystemCallArchitectures = "native";
      };
    };
  };
}

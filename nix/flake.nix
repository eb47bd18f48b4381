{
  description = "gitops-hive: a git-native GitOps controller for a hive of AI agents";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAll (pkgs: {
        gitops-hive = pkgs.callPackage ./package.nix { };
        default = self.packages.${pkgs.system}.gitops-hive;
      });

      nixosModules.gitops-hive = import ./module.nix;
      nixosModules.default = self.nixosModules.gitops-hive;

      # Evaluates a NixOS system with the module enabled: the options type-check, hive.toml
      # renders and the unit is generated.
      checks = forAll (pkgs: {
        module = (nixpkgs.lib.nixosSystem {
          inherit (pkgs) system;
          modules = [
            self.nixosModules.default
            {
              services.gitops-hive.enable = true;
              services.gitops-hive.runtime = "nspawn";
              boot.isContainer = true;
              system.stateVersion = "24.11";
            }
          ];
        }).config.system.build.toplevel;
      });
    };
}

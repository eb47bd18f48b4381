from gitops_hive.cli import main

main()

from asgpatch_sandbox.cli import main

main()

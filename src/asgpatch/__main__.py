from asgpatch.cli import main

main()

"""`python -m facerevive.export model=... out=...`: the same as `facerevive-export`."""

from facerevive.cli.export import main

main()

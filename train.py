"""`python train.py ...`: the same as `facerevive-train ...` (see facerevive.cli.train)."""

from facerevive.cli.train import main

if __name__ == "__main__":
    main()

"""`python evaluate.py ...`: the benchmark report (facerevive.cli.evaluate; also `facerevive-evaluate`)."""

from facerevive.cli.evaluate import main

if __name__ == "__main__":
    main()

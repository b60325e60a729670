"""What a training run needs around the Lightning module and callbacks: the preflight over its config (every
problem at once, before anything is built) and its files (the newest intact checkpoint, the end-of-run summary).
Used by `facerevive.cli.train`; above callbacks and models, below the entry points."""

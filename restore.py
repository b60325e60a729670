"""Restore old photos: `python restore.py input=photo.jpg output=results/` (options in configs/restore.yaml)."""

from facerevive.cli.restore import main

if __name__ == "__main__":
    main()

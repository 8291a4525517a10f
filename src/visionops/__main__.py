"""``python -m visionops`` runs the visionops CLI."""

from visionops.console import main

if __name__ == "__main__":
    main()

"""``python -m visionops`` runs the visionops CLI."""

from visionops.devices import hide_absent_gpus

if __name__ == "__main__":
    hide_absent_gpus()  # before any command imports TensorFlow
    from visionops.console import main

    main()

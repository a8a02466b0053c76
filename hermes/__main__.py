"""``python -m hermes``: the ``hermes`` command line (also under ``torchrun -m hermes``)."""

from hermes.cli import main

if __name__ == "__main__":
    main()

"""``python -m ce_cli`` runs the ``ce`` command line."""

from ce_cli.cli.main import main

if __name__ == "__main__":
    main()

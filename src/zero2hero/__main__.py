"""``python -m zero2hero``: the same command line as ``z2h``."""

from zero2hero.cli import main

if __name__ == "__main__":
    main()

"""Print the schema in SDL: ``python -m schema.export > schema.graphql``."""

from __future__ import annotations

import sys

from schema.build import sdl

if __name__ == "__main__":
    sys.stdout.write(sdl())

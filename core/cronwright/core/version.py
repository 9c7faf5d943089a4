"""The release, read from the installed distribution so pyproject.toml is its one source."""

from importlib.metadata import version

VERSION = version("cronwright")

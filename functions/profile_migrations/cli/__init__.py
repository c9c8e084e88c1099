"""The `profile-migrate` command line: thin wrappers over the run logic."""

from profile_migrations.cli.main import main

__all__ = ["main"]

"""Safe, resumable schema migrations for versioned profile documents in Amazon DynamoDB.

The public API: declare steps with :class:`ProfileMigration`, apply them to one profile
with :func:`apply_migrations`; every error derives from :class:`MigrationError`.
"""

from profile_migrations.errors import MigrationError
from profile_migrations.registry import MigrationChain, ProfileMigration, apply_migrations

__all__ = ["MigrationChain", "MigrationError", "ProfileMigration", "apply_migrations"]

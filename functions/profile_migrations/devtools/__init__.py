"""Tools for running the migration locally: an embedded DynamoDB Local and demo data."""

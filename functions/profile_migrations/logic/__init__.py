"""Run logic: migrating and verifying segments, and summarizing a run."""

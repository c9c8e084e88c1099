"""Caps on what a run lists and lays out, shared by the local runner and the pipeline."""

from __future__ import annotations

MAX_SEGMENTS = 1_000_000


RESULTS_CAP = 1_000


MAX_PIPELINE_SEGMENTS = 10_000


MAX_PAGE_SIZE = 10_000

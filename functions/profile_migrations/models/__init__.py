"""Pydantic models for every request, result, payload and record that crosses a boundary,
one module per role (requests, results, pipeline payloads, control-table records, limits).

Field names are snake_case in Python and camelCase on the wire; requests forbid unknown
fields so a typo is an error, not a no-op.
"""

"""Migration registries the tests load by file path or module name."""

"""The stack's building blocks, one capability each."""

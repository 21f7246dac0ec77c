"""Core features built as plugins on the public hooks, loaded before any installed plugin."""

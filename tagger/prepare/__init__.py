"""prepare.py: reading images and tags into a checked manifest and vocabulary."""

"""Using a trained run: tag.py, similar.py and export.py."""

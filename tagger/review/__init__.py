"""review.py: a local web app to decide the proposed variant merges among their images (see README)."""

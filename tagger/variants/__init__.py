"""cluster_tags.py and apply_review.py: evidence that tags are variants, groups, review and aliases."""

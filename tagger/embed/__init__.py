"""embed.py: the pooled embedding of every image of the run."""

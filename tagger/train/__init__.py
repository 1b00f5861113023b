"""train.py: the stage-1 head on cached features, fine-tuning, evaluation and the training report."""

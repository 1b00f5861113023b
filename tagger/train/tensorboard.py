"""TensorBoard logs of training, under the run folder's logs/: `tensorboard --logdir runs/mine/logs`.

Each stage is a TensorBoard run (logs/train/head, logs/train/finetune, logs/train/full) with loss, validation mAP
and learning rate per epoch; logs/train/validation holds the final model's validation precision-recall curves
(all tags pooled, and the weakest tags one by one). Written at each epoch's end by a callback of the stage's fit
(tagger.train.callbacks.EpochScalars), so a resumed run carries on the same curves (TensorBoard shows the latest
value of an epoch written twice).
"""

from pathlib import Path

import numpy as np

from tagger import runfolder

PR_THRESHOLDS = 201  # points of each precision-recall curve


def stage_folder(run_dir: Path, stage: str) -> Path:
    return run_dir / runfolder.LOGS / "train" / stage


class EpochLog:
    """One stage's scalars, one point per epoch."""

    def __init__(self, run_dir: Path, stage: str):
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(str(stage_folder(run_dir, stage)))

    def write(self, epoch: int, loss: float, validation_map: float, learning_rate: float) -> None:
        import tensorflow as tf

        with self.writer.as_default(step=epoch):
            tf.summary.scalar("loss", loss, description="Training loss, mean over the epoch's steps.")
            tf.summary.scalar("validation_mAP", validation_map,
                              description="Mean over tags of average precision on the validation images.")
            tf.summary.scalar("learning_rate", learning_rate, description="At the end of the epoch.")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def current_learning_rate(optimizer) -> float:
    return float(np.asarray(optimizer.learning_rate))


def write_pr_curves(run_dir: Path, vocabulary: list[str], labels: np.ndarray, scores: np.ndarray,
                    tags: list[int]) -> None:
    """Validation precision-recall curves: all image-tag pairs pooled, and each tag of `tags`."""
    import tensorflow as tf
    from tensorboard.plugins.pr_curve.summary import raw_data_pb

    writer = tf.summary.create_file_writer(str(stage_folder(run_dir, "validation")))
    curves = [("all tags pooled", labels.ravel(), scores.ravel())]
    curves += [(f"tag/{vocabulary[tag]}", labels[:, tag], scores[:, tag]) for tag in tags]
    with writer.as_default(step=0):
        for name, truth, predicted in curves:
            counts = threshold_counts(truth, predicted)
            summary = raw_data_pb(name, *counts, num_thresholds=PR_THRESHOLDS)
            tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=0)
    writer.close()


def threshold_counts(truth: np.ndarray, predicted: np.ndarray):
    """(TP, FP, TN, FN, precision, recall) at PR_THRESHOLDS evenly spaced thresholds from 0 to 1, counted
    from one histogram of the scores (memory of the scores, not of scores x thresholds)."""
    bins = np.clip(np.floor(np.asarray(predicted, np.float64) * (PR_THRESHOLDS - 1)), 0, PR_THRESHOLDS - 1).astype(int)
    positive = np.asarray(truth).astype(bool)
    # at threshold i: every score in bin i or above is called positive
    tp = np.cumsum(np.bincount(bins[positive], minlength=PR_THRESHOLDS)[::-1])[::-1].astype(float)
    fp = np.cumsum(np.bincount(bins[~positive], minlength=PR_THRESHOLDS)[::-1])[::-1].astype(float)
    fn = positive.sum() - tp
    tn = (~positive).sum() - fp
    precision = np.divide(tp, tp + fp, out=np.ones_like(tp), where=tp + fp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=tp + fn > 0)
    return tp, fp, tn, fn, precision, recall

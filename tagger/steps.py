"""The table of steps: every command of the pipeline as data, the way keras applications keep model variants.

Each entry names the function that runs the step (imported only when it runs, so `--help` stays fast), the
settings sections it reads besides `paths`, how it locks the run folder, and a one-line summary. The root
scripts, the `tagger` console command and each step's `--help` are all made from this table (tagger.cli).
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from tagger.runfolder import LOCK
from tagger.settings import Settings


def folder_lock(settings: Settings) -> str | None:
    """The step writes the run folder: one such step at a time (tagger.runlock)."""
    return LOCK


def no_lock(settings: Settings) -> str | None:
    """The step only reads the run folder, so it runs beside anything else."""
    return None


def embed_lock(settings: Settings) -> str | None:
    """Shards share the run folder, so each holds a lock of its own; a whole run or a merge takes the folder's."""
    options = settings.embed
    if options.num_shards > 1 and not options.merge_only:
        return f"{LOCK}.embed-shard-{options.shard_index}-of-{options.num_shards}"
    return LOCK


@dataclass(frozen=True)
class Step:
    name: str  # the subcommand (`tagger prepare`) and, with .py, the root script
    function: str  # "module:function", called with the Settings; returns a tagger.result.StepResult
    sections: tuple[str, ...]  # settings sections it reads, besides paths; its --help lists only these
    lock: Callable[[Settings], str | None]
    summary: str
    positional: str | None = None  # the setting that bare command-line arguments fill (a list: each one an item)

    @property
    def script(self) -> str:
        return f"{self.name}.py"

    def load(self) -> Callable:
        module, function = self.function.split(":")
        return getattr(importlib.import_module(module), function)


STEPS: dict[str, Step] = {step.name: step for step in [
    Step("prepare", "tagger.prepare.step:prepare", ("data",), folder_lock,
         "Read images and tags, normalize the tags, check every image, split train/validation."),
    Step("train", "tagger.train.step:train", ("model", "train", "embed"), folder_lock,
         "Train the tagger: a head on cached frozen features, then optional fine-tuning."),
    Step("embed", "tagger.embed.step:embed", ("embed",), embed_lock,
         "Write the pooled embedding of every image (embeddings.npy, image_ids.npy); resumable, shardable."),
    Step("cluster_tags", "tagger.variants.step:cluster_tags", ("cluster",), folder_lock,
         "Propose groups of tag variants with their evidence, for review (synonyms.html, review.csv)."),
    Step("apply_review", "tagger.variants.review:apply_review", (), folder_lock,
         "Turn the accepted rows of review.csv into aliases.txt for prepare.py; remember rejections."),
    Step("review", "tagger.review.command:review", ("review",), no_lock,
         "Decide the proposed merges among their images: a local web page over review.csv (Ctrl-C stops)."),
    Step("tag", "tagger.use.tag:tag", ("tag", "embed"), no_lock,
         "Tag image files and folders with the trained model: .txt sidecars and/or a scores file.",
         positional="tag.inputs"),
    Step("similar", "tagger.use.similar:similar", ("similar",), no_lock,
         "List the images of the collection most like an image id of the run or any image file.",
         positional="similar.query"),
    Step("export", "tagger.use.export:export", (), folder_lock,
         "Export the tagger as a TF SavedModel and ONNX, each checked against model.keras."),
]}

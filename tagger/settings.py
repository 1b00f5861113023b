"""Typed settings for every step, in sections.

One model for the whole pipeline: each script reads the sections it needs.
Values come, lowest priority first, from defaults, `.env`, `TAGGER_<SECTION>__<FIELD>`
environment variables and `--section.field value` command-line flags.
"""

from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The backbone table is data (keras is imported only when a backbone is built): names and sizes for checks and help.
from tagger.model.backbones import BACKBONES

# The inference engines and arithmetic of tagger.model.inference, named once here for every setting that picks them.
Engine = Literal["keras", "function", "onnx", "openvino"]
Precision = Literal["float32", "mixed_bfloat16", "mixed_float16"]


# What a user may ask for: an engine or precision by name, or auto (tagger.model.choice picks per machine and model).
EngineChoice = Literal[("auto", *get_args(Engine))]
PrecisionChoice = Literal[("auto", *get_args(Precision))]


def engine_field():
    """The engine setting of every section that runs the network (embed, tag): one text, one default."""
    return Field(
        "auto",
        description="auto: openvino on a CPU where it is installed, else function (and function on a GPU); below "
        "2,000 images function, unless the run folder holds the OpenVINO conversion already (converting costs "
        "about 30 s); the choice and its reason are printed. keras: model(...) per batch; function: the same, compiled once as a "
        "tf.function (same outputs, about 2x faster on CPUs); onnx: ONNX Runtime (extra 'export'); openvino: "
        "OpenVINO (extra 'openvino'), fastest on CPUs. See benchmarks/embed_throughput.py.",
    )


def precision_field(measured: str):
    """The precision setting beside engine_field; measured: what benchmarks/precision_fidelity.py found it costs."""
    return Field(
        "auto", description="Inference arithmetic. auto: mixed_bfloat16 on CPUs with bfloat16 units (AVX512-BF16, "
        "AMX) and mixed_float16 on GPUs, for a model that passed train.py's check at it (embedding cosine >= 0.99 "
        f"and >= 99% same decisions on validation images, in training.json), else float32; the reason is printed. "
        f"mixed_bfloat16 measured: {measured} (benchmarks/precision_fidelity.py).",
    )


def threads_field():
    """CPU threads for the network, beside engine_field."""
    return Field(
        0, ge=0, le=1024, description="CPU threads for the network (TensorFlow, OpenVINO, ONNX Runtime); 0: every "
        "core this process may use (its CPU affinity, e.g. a container's or Slurm's share).",
    )


# data.tag_separator's names for separators awkward to type on a command line.
SEPARATOR_NAMES = {"comma": ",", "space": " ", "tab": "\t", "semicolon": ";", "pipe": "|"}


class PathSettings(BaseModel):
    """Where a dataset's outputs live: every step reads and writes one run folder."""

    run_dir: Path = Field(Path("runs/default"), description="Folder holding every output of one dataset.")


class DataSettings(BaseModel):
    """prepare.py: where the images and tags are, and how tags are normalized and filtered."""

    source: Path | None = Field(
        None,
        description="Tags: a CSV/TSV (columns image,tags), a JSONL file ({image, tags}), "
        "or a folder of images each with a .txt of comma-separated tags beside it.",
    )
    images_root: Path | None = Field(
        None, description="Folder that relative image paths start from (default: the tags file's folder)."
    )
    tag_separator: str = Field(
        ",", description="Between the tags of one cell, line or .txt: ',' (default), or 'space' for Danbooru-style "
        "strings (long_hair blue_eyes; underscores are then folded by data.fold_separators), or any one character.",
    )
    image_column: str = Field("image", description="CSV/TSV column holding the image path (e.g. file).")
    tags_column: str = Field("tags", description="CSV/TSV column holding the tags (e.g. labels).")
    aliases: Path | None = Field(None, description="Aliases file: lines 'alias <variant> -> <canonical>'.")
    min_tag_occurrences: int = Field(10, ge=1, description="Drop tags used on fewer images than this.")
    trim: bool = Field(True, description="Strip spaces around tags and collapse inner runs of spaces.")
    casefold: bool = Field(True, description="Compare tags case-insensitively (stored case-folded).")
    fold_separators: bool = Field(True, description="Underscores and hyphens between words become one space.")
    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="Share of images held out for validation (prepare.py warns when they hold under half of the kept tags).")
    check_images: bool = Field(True, description="Decode every image once and skip the ones that fail.")
    max_broken_fraction: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Stop, instead of training on what is left, when more than this share of the images listed "
        "is missing, unreadable or refused; applied only once at least 5 are, so a few broken files "
        "never stop a small set.",
    )
    allow_outside_root: bool = Field(
        False, description="Accept relative image paths that climb out of data.images_root ('../x.png'); "
        "absolute paths are always accepted."
    )
    max_tag_length: int = Field(
        200, ge=1, description="Drop tags longer than this many characters (recorded in skipped.csv)."
    )

    @field_validator("tag_separator")
    @classmethod
    def separator_is_one_character(cls, separator: str) -> str:
        separator = SEPARATOR_NAMES.get(separator.lower(), separator)
        if len(separator) != 1 or separator in "\r\n":
            raise ValueError(f"must be one character or one of {', '.join(SEPARATOR_NAMES)}")
        return separator

    @field_validator("image_column", "tags_column")
    @classmethod
    def column_is_named(cls, column: str) -> str:
        if not column.strip():
            raise ValueError("must name a column")
        return column.strip().lower()


class ModelSettings(BaseModel):
    """The network: backbone, input size, starting weights, dropout before the tag layer."""

    backbone: str = Field("efficientnetv2-l", description="One of the backbone table (tagger/model/backbones.py; "
                          "dinov2-*, siglip-*, siglip2-*, clip-* come from keras-hub, extra 'hub'): "
                          + ", ".join(f"{name} ({spec.default_image_size} px customary)" for name, spec in BACKBONES.items())
                          + ".")
    image_size: int = Field(
        384, ge=32, le=1024,
        description="Input side in pixels; wins over the backbone's customary size (listed with model.backbone).",
    )
    weights: str = Field(
        "imagenet", description="keras.applications: 'imagenet' (downloaded once by Keras), 'none', or a weights "
        "file. keras-hub backbones: 'imagenet' or 'pretrained' (the preset's weights, downloaded once), 'none', or "
        "a local preset folder.")
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="Dropout before the tag layer.")
    tag_layer: Literal["dense", "cosine"] = Field(
        "dense", description="dense: sigmoid of a linear layer (logistic regression on the features); cosine: "
        "sigmoid of a learned scale x the cosine of features and tag weights, both L2-normalized (ArcFace-style, "
        "no margin). Use cosine with train.head.optimizer adam (sgd's default rate diverges); it measured below "
        "dense on coco128 (benchmarks/stage1_quality.py --cosine).")

    @field_validator("backbone")
    @classmethod
    def backbone_is_known(cls, name: str) -> str:
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
        return name


class HeadSettings(BaseModel):
    """Stage 1: the tag layer trained on cached frozen-backbone features (a multi-label logistic regression)."""

    epochs: int = Field(10, ge=1, le=1000, description="Epochs of the head on cached frozen features.")
    batch_size: int = Field(
        0, ge=0, le=65536,
        description="Cached feature rows per step; 0: about 64 steps an epoch, between 32 and 1024 rows.",
    )
    optimizer: Literal["sgd", "adam"] = Field(
        "sgd", description="sgd (momentum 0.9) generalizes like logistic regression on few images per tag; "
        "Adam's per-weight steps overfit them (benchmarks/stage1_quality.py).",
    )
    learning_rate: float = Field(
        0.5, gt=0.0, le=100.0,
        description="Peak learning rate. sgd: for features scaled to unit mean length and the loss summed "
        "over tags, so one value suits every backbone and vocabulary; adam: as usual (e.g. 0.001).",
    )
    baseline: Literal["auto", "on", "off"] = Field(
        "auto", description="Solve the logistic regression (scikit-learn's C=1 objective, all tags at once) on the "
        "same cached features: the yardstick in report.html and the head's start; auto: when training images x "
        "tags is at most 5 million.",
    )
    warm_start: bool = Field(
        True, description="Start the head from the yardstick's solution (when it runs); kept as epoch 0 when no "
        "epoch beats it, so the head ends no worse than the yardstick.",
    )


class FinetuneSettings(BaseModel):
    """Stages 2 and 3: training backbone layers from images, after stage 1."""

    unfreeze_layers: int = Field(
        0, ge=0, description="Stage 2: unfreeze the last N backbone layers (0: skip; more than it has: all); "
        "for keras-hub backbones (dinov2, siglip, clip) N counts transformer blocks."
    )
    epochs: int = Field(3, ge=1, le=1000, description="Stage 2 epochs, from images.")
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] | Literal["auto"] = Field(
        1e-3, description="Stage 2 peak learning rate of the head (and of the backbone, times "
        "backbone_learning_rate_scale). 1e-3 with scale 1 earned +10.5 mAP points over stage 1's yardstick on "
        "6,000 real photos where 1e-4 with scale 0.1 earned none; the stage keeps stage 1's weights when no "
        "epoch beats them (a few hundred images can lose more than they gain). auto: a learning-rate range test "
        "of 43 updates before stage 2 picks it (a tenth of the rate where the training loss was lowest; in "
        "training.json); on 5,400 synthetic scenes it chose 6.8e-05 and earned 4.4 points less than 1e-3.",
    )
    backbone_learning_rate_scale: float = Field(
        1.0, gt=0.0, le=1.0, description="Stages 2 and 3: backbone learning rate = head learning rate x this "
        "(lower it for transformer backbones, e.g. 0.1).",
    )
    full_epochs: int = Field(0, ge=0, le=1000, description="Stage 3 (optional): epochs with the whole backbone.")
    full_learning_rate: float = Field(1e-5, gt=0.0, le=1.0, description="Stage 3 peak learning rate of the head.")
    batch_size: int = Field(32, ge=1, le=4096, description="Images per step in stages 2 and 3 (per replica).")
    memory_limit_gb: float = Field(
        0.0, ge=0.0, description="Stages 2 and 3 on a CPU: memory a training step may use, in GB (0: 85% of the "
        "memory available when train.py starts). Checked before stage 1 from the model's shapes: a batch that would "
        "not fit is taken in smaller steps whose gradients add up to it; when one image would not fit, train.py "
        "refuses to start.")


class AugmentSettings(BaseModel):
    """Random changes to training images in stages 2 and 3 (stage 1 trains on cached features)."""

    flip: bool = Field(True, description="Random horizontal flip.")
    crop: bool = Field(True, description="Random resized crop (60-100% of the side).")
    rotation: bool = Field(True, description="Random rotation up to 10 degrees.")
    colour: bool = Field(True, description="Random brightness and contrast.")

    def any(self) -> bool:
        return self.flip or self.crop or self.rotation or self.colour


class HardwareSettings(BaseModel):
    """Where and how training computes."""

    precision: Literal[("auto", *get_args(Precision))] = Field(
        "auto", description="auto: mixed_float16 on a GPU, float32 on a CPU; mixed_bfloat16 suits recent CPUs."
    )
    distribute: Literal["auto", "off", "mirrored"] = Field(
        "auto", description="auto: MirroredStrategy over all GPUs when there are several; mirrored: always."
    )
    cpu_devices: int = Field(0, ge=0, le=64, description="Split the CPU into N logical devices (0: leave as is; for tests).")
    deterministic: bool = Field(True, description="TensorFlow op determinism: a resumed run equals an uninterrupted one.")
    fidelity_images: int = Field(
        256, ge=0, le=1_000_000, description="Check the trained model at reduced precision (bfloat16 on CPUs, float16 "
        "on GPUs) against float32 on up to this many validation images, recorded in training.json: "
        "--embed.precision auto uses reduced precision only for a model that passed (0: no check, float32).")


class ThresholdSettings(BaseModel):
    """How each tag's decision threshold is chosen on the validation images."""

    mode: Literal["best_f1", "precision_equals_recall", "target_precision"] = Field(
        "best_f1", description="The rule used for thresholds.json's tags (all three are saved under modes)."
    )
    target_precision: float = Field(0.9, gt=0.0, lt=1.0, description="Precision aimed at by mode target_precision.")
    min_positives: int = Field(
        5, ge=1, le=100_000, description="A tag on fewer validation images than this gets the global threshold "
        "(best F1 over all tags pooled) instead of one chosen from so few images; flagged in report.html.",
    )


class TrainSettings(BaseModel):
    """train.py: the schedule and loss every stage shares, and a section per concern."""

    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="Decoupled weight decay (AdamW-style), all stages.")
    warmup_epochs: float = Field(0.5, ge=0.0, le=100.0, description="Linear learning-rate warm-up, then cosine decay.")
    patience: int = Field(3, ge=1, le=1000, description="Stop a stage after this many epochs without a better validation mAP.")
    loss: Literal["bce", "asl"] = Field("bce", description="bce: binary cross-entropy; asl: asymmetric loss (Ridnik 2021).")
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5, description="Label smoothing for either loss.")
    seed: int = Field(0, ge=0, description="Seed for weights, shuffling, augmentation and dropout.")
    head: HeadSettings = HeadSettings()
    finetune: FinetuneSettings = FinetuneSettings()
    augment: AugmentSettings = AugmentSettings()
    hardware: HardwareSettings = HardwareSettings()
    thresholds: ThresholdSettings = ThresholdSettings()


# train.py's flags before the train section was split by concern; still accepted (tagger.cli).
RENAMED_FLAGS = {
    "train.batch_size": "train.finetune.batch_size",
    "train.head_batch_size": "train.head.batch_size",
    "train.head_epochs": "train.head.epochs",
    "train.head_optimizer": "train.head.optimizer",
    "train.head_learning_rate": "train.head.learning_rate",
    "train.baseline": "train.head.baseline",
    "train.unfreeze_layers": "train.finetune.unfreeze_layers",
    "train.finetune_epochs": "train.finetune.epochs",
    "train.finetune_learning_rate": "train.finetune.learning_rate",
    "train.backbone_learning_rate_scale": "train.finetune.backbone_learning_rate_scale",
    "train.full_finetune_epochs": "train.finetune.full_epochs",
    "train.full_finetune_learning_rate": "train.finetune.full_learning_rate",
    "train.augment_flip": "train.augment.flip",
    "train.augment_crop": "train.augment.crop",
    "train.augment_rotation": "train.augment.rotation",
    "train.augment_colour": "train.augment.colour",
    "train.threshold_mode": "train.thresholds.mode",
    "train.target_precision": "train.thresholds.target_precision",
    "train.precision": "train.hardware.precision",
    "train.distribute": "train.hardware.distribute",
    "train.cpu_devices": "train.hardware.cpu_devices",
    "train.deterministic": "train.hardware.deterministic",
}


class EmbedSettings(BaseModel):
    """embed.py and the stage-1 feature cache: how the network is run over every image."""

    batch_size: int = Field(32, ge=1, le=4096, description="Images per forward pass.")
    chunk_size: int = Field(
        1024, ge=1, le=1_000_000,
        description="Images per finished piece on disk: an interrupted run resumes from the last whole piece.",
    )
    num_shards: int = Field(1, ge=1, le=100_000, description="Split the images into this many shards (one per machine).")
    shard_index: int = Field(0, ge=0, description="Which shard this process embeds (0 .. num_shards-1).")
    merge_only: bool = Field(
        False, description="Only join the shards' pieces into embeddings.npy; stop with a list if any is missing."
    )
    engine: EngineChoice = engine_field()
    precision: PrecisionChoice = precision_field("embeddings within cosine 0.99 of float32")
    threads: int = threads_field()

    @model_validator(mode="after")
    def shard_in_range(self):
        if self.shard_index >= self.num_shards:
            raise ValueError(f"embed.shard_index must be below embed.num_shards ({self.num_shards})")
        return self


class ClusterSettings(BaseModel):
    """cluster_tags.py: how variant groups are proposed."""

    method: Literal["combined", "dbscan"] = Field(
        "combined",
        description="combined: visual, co-occurrence and spelling evidence (see README); "
        "dbscan: DBSCAN over per-tag mean embeddings alone (the baseline).",
    )
    min_score: float = Field(0.5, gt=0.0, le=1.0, description="combined: lowest score proposed as a merge.")
    neighbours: int = Field(10, ge=1, le=1000, description="combined: candidate partners per tag by image (every "
                            "tag near in spelling is one too).")
    eps: float = Field(0.3, gt=0.0, le=2.0, description="DBSCAN neighbourhood radius, in cosine distance.")
    min_samples: int = Field(2, ge=2, description="DBSCAN: tags within eps needed to start a group.")
    center: bool = Field(
        True, description="Subtract the mean image embedding first, so tags are compared by what sets them apart."
    )
    use_head: bool = Field(
        True, description="combined: visual evidence also from the trained head (cosine of mean tag logits), averaged "
        "with the embeddings' cosine.",
    )
    probe: bool = Field(
        True, description="combined: ask a held-out classifier whether the images of two candidate tags can be told "
        "apart (different concepts) or not (one concept), against the chance level measured on this collection.",
    )
    probe_images: int = Field(192, ge=6, le=10000, description="combined: images sampled per tag for the separability probe.")
    max_probes: int = Field(
        5000, ge=0, description="combined: at most this many candidate pairs probed, most promising first (bounds the cost)."
    )
    text_evidence: bool = Field(
        False, description="combined: also compare tag names with the text tower of the run's SigLIP / SigLIP2 / "
        "CLIP preset; counts only where the images agree too (never merges on text alone).",
    )

    @model_validator(mode="after")
    def text_evidence_needs_combined(self):
        if self.text_evidence and self.method != "combined":
            raise ValueError("cluster.text_evidence works with cluster.method combined")
        return self


class TagSettings(BaseModel):
    """tag.py: which images to tag and how their tags are written (caption files like other taggers write)."""

    inputs: list[Path] = Field(
        default_factory=list,
        description="Image files, folders and globs ('photos/*.jpg') to tag; also taken as bare arguments "
        "(tag.py photos/ a.jpg). As a flag: repeat it (--tag.inputs a.jpg --tag.inputs photos) or separate with "
        "commas (--tag.inputs a.jpg,photos).",
    )
    recursive: bool = Field(False, description="Also tag the images in subfolders of a folder named (as kohya's "
                            "--recursive); off: only the folder's own images.")
    mode: Literal["backup", "overwrite", "append", "skip"] = Field(
        "backup",
        description="An existing caption file: backup (its text is kept as <name>.txt.bak, then it is replaced; "
        "never a caption lost); overwrite (replaced, old text gone); append (its tags first, then the model's "
        "new ones); skip (left as it is, and its image not even run unless tag.output wants scores).",
    )
    caption_extension: str = Field(".txt", description="Extension of the caption file written beside each image.")
    caption_separator: str = Field(", ", description="Between the tags of a caption (', ' as kohya and WD14 "
                                   "taggers write; ' ' for Danbooru-style captions with tag.underscores).")
    underscores: bool = Field(False, description="Write tags Danbooru-style, underscores between words "
                              "(long_hair); off: as the vocabulary has them (prepare.py folds _ into spaces).")
    exclude: list[str] = Field(default_factory=list, description="Undesired tags, never written (repeat the flag, "
                               "or separate with commas); matched as prepare.py normalizes tags.")
    always_first: list[str] = Field(
        default_factory=list, description="Tags put at the start of a caption, in this order, when the image "
        "has them (as kohya's --always_first_tags); e.g. a trigger word or 'solo'.",
    )
    replace: list[str] = Field(
        default_factory=list, description="Tag replacements 'old=new' (repeat the flag, or separate with commas): "
        "the model's tag old is written as new.",
    )
    apply_aliases: bool = Field(
        True, description="Write the run folder's aliases.txt canonical tag instead of a merged variant "
        "(apply_review.py writes it), so a merge you accepted never reaches a caption.",
    )
    max_tags: int | None = Field(None, ge=1, description="Write at most this many tags per image, most confident first.")
    write_sidecars: bool = Field(True, description="Write a caption file beside each image.")
    output: Path | None = Field(None, description="Also write every image's tags and scores to this .json file "
                                "or .csv file (long form: image,tag,score,error; one row per tag).")
    print: bool | None = Field(None, description="Print each image's tags with their scores; default: when "
                               "tagging at most 10 images.")
    batch_size: int = Field(32, ge=1, le=4096, description="Images per forward pass.")
    engine: EngineChoice = engine_field()
    precision: PrecisionChoice = precision_field("99.6% of tag decisions unchanged on coco128")
    threads: int = threads_field()
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="One threshold for every tag, instead of the per-tag thresholds.json."
    )

    @field_validator("output")
    @classmethod
    def output_is_json_or_csv(cls, output: Path | None) -> Path | None:
        if output is not None and output.suffix.lower() not in (".json", ".csv"):
            raise ValueError(f"must end in .json or .csv, not {output.suffix or 'nothing'!r}")
        return output

    @field_validator("caption_extension")
    @classmethod
    def extension_is_a_suffix(cls, extension: str) -> str:
        if not extension.startswith(".") or len(extension) < 2 or "/" in extension or "\\" in extension:
            raise ValueError("must be a file extension starting with '.', like .txt or .caption")
        import mimetypes

        from tagger.files import IMAGE_EXTENSIONS

        kind = (mimetypes.guess_type(f"caption{extension}")[0] or "").split("/")[0]
        if extension.lower() in IMAGE_EXTENSIONS or kind in ("image", "video", "audio"):
            # The caption of photo.png under .jpg would be written over photo.jpg, another picture of the folder.
            raise ValueError(f"{extension} names {kind or 'image'} files: a caption written under it could replace "
                             "one; use .txt, .caption or .tags")
        return extension

    @field_validator("caption_separator")
    @classmethod
    def separator_is_not_blank_only_newlines(cls, separator: str) -> str:
        if not separator or "\n" in separator or "\r" in separator:
            raise ValueError("must be one line of at least one character, like ', ' or ' '")
        return separator

    @field_validator("replace")
    @classmethod
    def replacements_are_pairs(cls, pairs: list[str]) -> list[str]:
        for pair in pairs:
            old, equals, new = pair.partition("=")
            if not equals or not old.strip() or not new.strip() or "=" in new:
                raise ValueError(f"each replacement is 'old=new', got {pair!r}")
        return pairs


class SimilarSettings(BaseModel):
    """similar.py: the query and how the collection is searched."""

    query: str | None = Field(None, description="An image id from manifest.csv, or the path of any image file; also "
                              "taken as a bare argument (similar.py images/0042.jpg).")
    k: int = Field(10, ge=1, le=100_000, description="How many similar images to list (the query itself included).")
    output: Path | None = Field(None, description="Also write the ranked list to this .json file.")
    index: Literal["auto", "exact", "faiss"] = Field(
        "auto", description="exact: read every embedding (flat memory, ~1 s per 150,000 images); faiss: an HNSW index "
        "kept in the run folder (pip install -e '.[index]'), built once, then milliseconds per query; auto: faiss "
        "from 200,000 images when it is installed.",
    )


class ReviewSettings(BaseModel):
    """review.py: where the review page is served, and what it shows."""

    host: str = Field(
        "127.0.0.1", description="Address review.py serves on. Loopback by default; any other address lets others on "
        "the network see the images and decide, and is served with a warning.",
    )
    port: int = Field(0, ge=0, le=65535, description="Port review.py serves on (0: a free one, printed at start).")
    open: bool = Field(True, description="Open the review page in the default browser at start.")
    thumbnails: int = Field(6, ge=1, le=48, description="Images shown per tag, spread over the range of its images.")


class Settings(BaseSettings):
    """Every setting of the pipeline."""

    model_config = SettingsConfigDict(
        env_prefix="TAGGER_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        cli_avoid_json=True,
        cli_hide_none_type=True,
        nested_model_default_partial_update=True,
    )

    paths: PathSettings = PathSettings()
    data: DataSettings = DataSettings()
    model: ModelSettings = ModelSettings()
    train: TrainSettings = TrainSettings()
    embed: EmbedSettings = EmbedSettings()
    cluster: ClusterSettings = ClusterSettings()
    tag: TagSettings = TagSettings()
    similar: SimilarSettings = SimilarSettings()
    review: ReviewSettings = ReviewSettings()

"""Typed settings for every step, in sections.

One model for the whole pipeline: each script reads the sections it needs.
Values come, lowest priority first, from defaults, `.env`, `TAGGER_<SECTION>__<FIELD>`
environment variables and `--section.field value` command-line flags.
"""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PathSettings(BaseModel):
    run_dir: Path = Field(Path("runs/default"), description="Folder holding every output of one dataset.")


class DataSettings(BaseModel):
    source: Path | None = Field(
        None,
        description="Tags: a CSV/TSV (columns image,tags), a JSONL file ({image, tags}), "
        "or a folder of images each with a .txt of comma-separated tags beside it.",
    )
    images_root: Path | None = Field(
        None, description="Folder that relative image paths start from (default: the tags file's folder)."
    )
    aliases: Path | None = Field(None, description="Aliases file: lines 'alias <variant> -> <canonical>'.")
    min_tag_occurrences: int = Field(10, ge=1, description="Drop tags used on fewer images than this.")
    trim: bool = Field(True, description="Strip spaces around tags and collapse inner runs of spaces.")
    casefold: bool = Field(True, description="Compare tags case-insensitively (stored case-folded).")
    fold_separators: bool = Field(True, description="Underscores and hyphens between words become one space.")
    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="Share of images held out for validation.")
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


class ModelSettings(BaseModel):
    backbone: str = Field("efficientnetv2-l", description="A keras.applications backbone; see tagger/backbones.py.")
    image_size: int = Field(
        384,
        ge=32,
        le=1024,
        description="Input side in pixels; wins over the backbone's customary size "
        "(efficientnetv2-l 480, -s 384, -b0 224, convnext 224, resnet50 224, mobilenetv2 224).",
    )
    weights: str = Field("imagenet", description="'imagenet' (downloaded once by Keras), 'none', or a weights file.")
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="Dropout before the tag layer.")

    @field_validator("backbone")
    @classmethod
    def backbone_is_known(cls, name: str) -> str:
        from tagger.backbones import BACKBONES

        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
        return name


class TrainSettings(BaseModel):
    batch_size: int = Field(32, ge=1, le=4096, description="Images (or cached features) per step.")
    head_epochs: int = Field(10, ge=1, le=1000, description="Stage 1: epochs of the head on cached frozen features.")
    head_learning_rate: float = Field(1e-3, gt=0.0, le=1.0, description="Stage 1 learning rate (Adam).")
    unfreeze_layers: int = Field(
        0, ge=0, description="Stage 2: unfreeze the last N backbone layers (0: skip; more than it has: all)."
    )
    finetune_epochs: int = Field(3, ge=1, le=1000, description="Stage 2 epochs, from images.")
    finetune_learning_rate: float = Field(1e-4, gt=0.0, le=1.0, description="Stage 2 learning rate (Adam).")
    seed: int = Field(0, ge=0, description="Seed for weights, shuffling and dropout.")


class EmbedSettings(BaseModel):
    batch_size: int = Field(32, ge=1, le=4096, description="Images per forward pass.")


class ClusterSettings(BaseModel):
    method: Literal["combined", "dbscan"] = Field(
        "combined",
        description="combined: visual, co-occurrence and spelling evidence (see README); "
        "dbscan: DBSCAN over per-tag mean embeddings alone (the baseline).",
    )
    min_score: float = Field(0.5, gt=0.0, le=1.0, description="combined: lowest score proposed as a merge.")
    neighbours: int = Field(10, ge=1, le=1000, description="combined: candidate partners per tag, by image and by spelling.")
    eps: float = Field(0.3, gt=0.0, le=2.0, description="DBSCAN neighbourhood radius, in cosine distance.")
    min_samples: int = Field(2, ge=2, description="DBSCAN: tags within eps needed to start a group.")
    center: bool = Field(
        True, description="Subtract the mean image embedding first, so tags are compared by what sets them apart."
    )


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

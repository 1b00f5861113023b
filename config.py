"""The pipeline's settings (defined in tagger/settings.py, so the library carries them)."""

from tagger.settings import (  # noqa: F401
    ClusterSettings,
    DataSettings,
    EmbedSettings,
    ModelSettings,
    PathSettings,
    Settings,
    TrainSettings,
)

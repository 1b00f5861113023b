"""The pipeline's settings, for scripts run from the repository (defined in tagger/settings.py, so the library
carries them; this file is not installed, so it never shadows another `import config`)."""

from tagger.settings import (  # noqa: F401
    AugmentSettings,
    ClusterSettings,
    DataSettings,
    EmbedSettings,
    FinetuneSettings,
    HardwareSettings,
    HeadSettings,
    ModelSettings,
    PathSettings,
    Settings,
    SimilarSettings,
    TagSettings,
    ThresholdSettings,
    TrainSettings,
)

"""Tag names as evidence (`--cluster.text_evidence`): the cosine of two tags' embeddings by the text tower
of the run's SigLIP / SigLIP2 / CLIP preset.

Most real aliases are semantic (`paper money` / `banknote`), and a multilingual preset sees translations
(`hund` / `dog`). Text is never enough on its own (`shirt lift` / `skirt lift` are close in text too):
the text route only counts where the images already agree (visual cosine above TEXT_NEEDS_VISUAL), and
like the other routes it is cancelled by tags sharing images.
"""

import numpy as np

from tagger.errors import TaggerError
from tagger.variants.evidence import pair_cosines
from tagger.variants.grouping import CombinedVariants
from tagger.variants.rule import PairEvidence

TEXT_RAMP = (0.5, 0.9)  # centered text cosine: from no support to full support
TEXT_NEEDS_VISUAL = (0.3, 0.6)  # visual cosine: below the first, text adds nothing; from the second, all it can
BATCH = 256


def tag_text_vectors(model_settings, vocabulary: list[str]) -> np.ndarray:
    """Each tag's text-tower embedding (of the family's prompt, e.g. 'a photo of {tag}.'), centered over the
    vocabulary (the prompt every tag shares says nothing) and L2-normalized; rows in vocabulary order."""
    from tagger.model.backbones import get_backbone_spec
    from tagger.model.hub import FAMILIES, keras_hub_module, load_preset_backbone, preset_source

    spec = get_backbone_spec(model_settings.backbone)
    family = FAMILIES.get(spec.family)
    if family is None or not family.text_preprocessor:
        raise TaggerError(f"cluster.text_evidence needs a backbone with a text tower (siglip-*, siglip2-*, clip-*); "
                          f"this run was trained with {spec.name}")
    preset = preset_source(spec, model_settings.weights)
    if preset is None:
        raise TaggerError("cluster.text_evidence: this run was trained with --model.weights none, so there is no "
                          "text tower to read tag names with")
    backbone = load_preset_backbone(spec, preset)
    preprocessor = getattr(keras_hub_module().models, family.text_preprocessor).from_preset(preset)
    preprocessor.image_converter = None  # prompts only
    rows = []
    for start in range(0, len(vocabulary), BATCH):
        prompts = [family.prompt.format(tag) for tag in vocabulary[start:start + BATCH]]
        token_ids = preprocessor({"images": None, "prompts": prompts})["token_ids"]
        rows.append(np.asarray(backbone.get_text_embeddings(token_ids), np.float64))
    vectors = np.concatenate(rows) if rows else np.zeros((0, 1))
    vectors -= vectors.mean(axis=0)
    return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def pair_text_similarity(text_vectors: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Cosine of the two tags' text vectors, per candidate pair."""
    return pair_cosines(text_vectors, first, second).astype(np.float64)


def with_text_route(scores: np.ndarray, evidence: PairEvidence, text: np.ndarray) -> np.ndarray:
    """Scores with a further route: named = ramp(text) x ramp(visual) x (1 - overlap)^2 x (1 - distinct),
    combined as the other routes are (score' = 1 - (1 - score)(1 - named)). Zero visual agreement gives zero
    from text, and a pair the separability probe tells apart gets nothing from its names either."""
    named = (np.clip((text - TEXT_RAMP[0]) / (TEXT_RAMP[1] - TEXT_RAMP[0]), 0, 1)
             * np.clip((evidence.visual - TEXT_NEEDS_VISUAL[0]) / (TEXT_NEEDS_VISUAL[1] - TEXT_NEEDS_VISUAL[0]), 0, 1)
             * (1 - evidence.overlap) ** 2 * (1 - evidence.parts()["distinct"]))
    return 1 - (1 - scores) * (1 - named)


class TextAwareVariants(CombinedVariants):
    """CombinedVariants whose pair scores also weigh the tags' names through a text tower."""

    def __init__(self, min_score: float = 0.5, neighbours: int = 10, probe=None, max_probes: int = 5000,
                 text_vectors: np.ndarray | None = None):
        super().__init__(min_score, neighbours, probe, max_probes)
        self.text_vectors = text_vectors

    def _evidence(self, first, second, tag_vectors, vocabulary) -> PairEvidence:
        evidence = super()._evidence(first, second, tag_vectors, vocabulary)
        evidence.text = pair_text_similarity(self.text_vectors, evidence.first, evidence.second)
        return evidence

    def _scores(self, evidence: PairEvidence, vocabulary) -> np.ndarray:
        scores = super()._scores(evidence, vocabulary)
        raised = with_text_route(scores, evidence, evidence.text)
        rejected = np.array([frozenset((vocabulary[a], vocabulary[b])) in self.rejected_
                             for a, b in zip(evidence.first, evidence.second)], bool)
        return np.where(rejected, 0.0, raised)

"""Tiny random keras-hub presets of each family, saved with save_to_preset as a downloaded preset is laid out.

A real preset cannot be downloaded on the test machines; these go through the very loading code a real one
does (Backbone.from_preset, ImageConverter.from_preset, the text preprocessor's from_preset).
"""

from pathlib import Path

TINY = {"patch_size": 8, "num_layers": 2, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64}
PRESET_SIZE = 32
TEXT_WORDS = ["a", "photo", "of", "cat", "cats", "dog", "hund", "red", "blue", "car", "wheel", "circle", "square"]


def save_tiny_preset(family: str, folder: Path, seed: int = 0, registers: int = 0) -> Path:
    """A random tiny preset of family (dinov2, siglip, clip) at 32 px in folder; returns folder."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    models, image_shape = keras_hub.models, (PRESET_SIZE, PRESET_SIZE, 3)
    if family == "dinov2":
        backbone = models.DINOV2Backbone(**TINY, num_register_tokens=registers, image_shape=image_shape,
                                         position_embedding_shape=image_shape)
        converter = keras_hub.layers.DINOV2ImageConverter(image_size=(PRESET_SIZE, PRESET_SIZE), scale=1 / 255.0,
                                                          offset=[-0.5, -0.4, -0.3])
        backbone.save_to_preset(str(folder))
        converter.save_to_preset(str(folder))
        return folder
    if family == "siglip":
        vision = models.SigLIPVisionEncoder(**TINY, image_shape=image_shape)
        text = models.SigLIPTextEncoder(vocabulary_size=64, embedding_dim=32, hidden_dim=32, num_layers=2,
                                        num_heads=2, intermediate_dim=64, max_sequence_length=16, projection_dim=32)
        backbone = models.SigLIPBackbone(vision, text)
        tokenizer = models.SigLIPTokenizer(proto=_sentencepiece_proto())
        converter = keras_hub.layers.SigLIPImageConverter(image_size=(PRESET_SIZE, PRESET_SIZE), scale=1 / 127.5,
                                                          offset=-1.0)
        preprocessor = models.SigLIPPreprocessor(tokenizer, converter, sequence_length=16)
    else:
        vision = models.CLIPVisionEncoder(**TINY, image_shape=image_shape)
        text = models.CLIPTextEncoder(vocabulary_size=_CLIP_VOCABULARY_SIZE, embedding_dim=32, hidden_dim=32,
                                      num_layers=2, num_heads=2, intermediate_dim=64, max_sequence_length=16)
        backbone = models.CLIPBackbone(vision, text, projection_dim=16)
        tokenizer = models.CLIPTokenizer(*_clip_vocabulary())
        converter = keras_hub.layers.CLIPImageConverter(image_size=(PRESET_SIZE, PRESET_SIZE), scale=1 / 255.0,
                                                        offset=0.0)
        preprocessor = models.CLIPPreprocessor(tokenizer, converter, sequence_length=16)
    backbone.save_to_preset(str(folder))
    preprocessor.save_to_preset(str(folder))
    return folder


def _sentencepiece_proto() -> bytes:
    import io

    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter([" ".join(TEXT_WORDS)] * 20 + TEXT_WORDS), model_writer=model, vocab_size=40,
        model_type="unigram", hard_vocab_limit=False, pad_id=0, unk_id=1, bos_id=2, eos_id=3, num_threads=1,
        minloglevel=2)
    return model.getvalue()


_CLIP_VOCABULARY_SIZE = 80


def _clip_vocabulary() -> tuple[dict, list]:
    """A byte-pair vocabulary of whole words and single letters: every tag name tokenizes."""
    tokens = ["<|startoftext|>", "<|endoftext|>"]
    tokens += [f"{word}</w>" for word in TEXT_WORDS] + list("abcdefghijklmnopqrstuvwxyz")
    tokens += [f"{letter}</w>" for letter in "abcdefghijklmnopqrstuvwxyz" if f"{letter}</w>" not in tokens]
    tokens += ["ca"]
    vocabulary = {token: index for index, token in enumerate(tokens)}
    return vocabulary, ["c a"]

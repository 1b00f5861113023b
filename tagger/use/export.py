"""export.py: the trained tagger as a TF SavedModel and as ONNX, each checked against model.keras.

Both take what model.keras takes: float32 0-255 RGB pixels, batch x image_size x image_size x 3, any
batch size; both give one probability per tag of the model, in the order of the tag list each carries
(saved_model/assets/tagger_tags.json; the ONNX model's metadata entry tagger_tags.json).
"""

import json
import logging
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.files import atomic_folder
from tagger.images import image_problem, load_image
from tagger.model.convert import (
    onnx_tools_installed,
    saved_model_to_onnx,
    write_saved_model,
)
from tagger.result import StepResult
from tagger.settings import Settings

log = logging.getLogger(__name__)

CHECK_IMAGES = 4
MAX_DIFFERENCE = 1e-4


def export(settings: Settings) -> StepResult:
    """Writes export/saved_model and (with the export extra) export/model.onnx, each checked on real images."""
    from tagger.use.tag import load_trained_tagger

    run_dir = settings.paths.run_dir
    tagger, tags, image_size = load_trained_tagger(run_dir)  # its tag list checked against its outputs
    pixels = check_pixels(run_dir, image_size)
    expected = np.asarray(tagger(pixels, training=False))
    saved_model = run_dir / runfolder.EXPORT / runfolder.SAVED_MODEL
    onnx_model = run_dir / runfolder.EXPORT / runfolder.ONNX_MODEL
    export_saved_model(tagger, saved_model, pixels, expected, tags)
    if not onnx_tools_installed():
        # Half of what export.py was asked for is missing: a warning, which --quiet still shows.
        log.warning("ONNX export skipped: tf2onnx and onnxruntime are not installed "
                    "(pip install tf2onnx onnxruntime, or pip install -e '.[export]')")
        return StepResult([saved_model])
    export_onnx(saved_model, onnx_model, pixels, expected, tags)
    return StepResult([saved_model, onnx_model])


def check_pixels(run_dir: Path, image_size: int) -> np.ndarray:
    """A few real images of the run, as the model sees them: random pixels would hide real-input differences."""
    usable = []
    for path in runfolder.read_manifest(run_dir).paths:
        if image_problem(Path(path)) is None:
            usable.append(load_image(path, image_size))
            if len(usable) == CHECK_IMAGES:
                break
    if not usable:
        raise TaggerError(f"no image listed in {run_dir / runfolder.MANIFEST} can be read to check the export")
    return np.stack(usable).astype(np.float32)


def export_saved_model(tagger, target: Path, pixels: np.ndarray, expected: np.ndarray, tags: list[str]) -> None:
    """The SavedModel carries its tags, in output order, as assets/tagger_tags.json."""
    import tensorflow as tf

    with atomic_folder(target) as temporary:
        write_saved_model(tagger, temporary)
        (temporary / "assets").mkdir(exist_ok=True)
        (temporary / "assets" / runfolder.MODEL_TAGS).write_text(json.dumps(tags, ensure_ascii=False), encoding="utf-8")
        reloaded = tf.saved_model.load(str(temporary))  # held: its functions need its variables alive
        served = reloaded.serve(tf.constant(pixels)).numpy()
        check("SavedModel", served, expected)
    log.info(f"wrote {target}")


def export_onnx(saved_model: Path, target: Path, pixels: np.ndarray, expected: np.ndarray, tags: list[str]) -> None:
    """Converts the checked SavedModel, not the Keras model: tf2onnx's conversion of a live Keras model
    leaves constants captured by layers (EfficientNetV2's input normalization) as unfed graph inputs."""
    import onnx
    import onnxruntime

    with runfolder.atomic_path(target, ".onnx") as temporary:
        saved_model_to_onnx(saved_model, temporary)
        converted = onnx.load(str(temporary))  # the tags, in output order, as the model's metadata
        converted.metadata_props.add(key=runfolder.MODEL_TAGS, value=json.dumps(tags, ensure_ascii=False))
        onnx.save(converted, str(temporary))
        session = onnxruntime.InferenceSession(str(temporary), providers=["CPUExecutionProvider"])
        batch = session.get_inputs()[0].shape[0]
        if isinstance(batch, int):
            raise TaggerError(f"the ONNX export has a fixed batch size of {batch}, not a dynamic one")
        name = session.get_inputs()[0].name
        # Two batch sizes through the same file: the batch dimension really is dynamic.
        batches = [pixels[:1], pixels[1:]] if len(pixels) > 1 else [pixels]
        served = np.concatenate([session.run(None, {name: batch})[0] for batch in batches])
        check("ONNX", served, expected)
    log.info(f"wrote {target}")


def check(name: str, served: np.ndarray, expected: np.ndarray) -> None:
    difference = float(np.max(np.abs(served - expected)))
    verdict = "same predictions" if difference <= MAX_DIFFERENCE else "DIFFERENT predictions"
    log.info(f"{name}: largest difference from model.keras on {len(expected)} images: {difference:.2e} "
          f"(allowed {MAX_DIFFERENCE:.0e}): {verdict}")
    if difference > MAX_DIFFERENCE:
        raise TaggerError(f"the {name} export does not reproduce model.keras; it was not written")

"""export.py: the trained tagger as a TF SavedModel, OpenVINO IR and ONNX, each checked against model.keras.

All take what model.keras takes: float32 0-255 RGB pixels (not BGR, as WD14's ONNX models take), the image padded
to a square with white, aspect kept, then resized to image_size; batch x image_size x image_size x 3, any batch size.
All give one probability per tag of the model, in the order of the tag list each carries
(saved_model/assets/tagger_tags.json; openvino/tagger_tags.json; the ONNX model's metadata entry
tagger_tags.json), and of export/selected_tags.csv beside them, with export/thresholds.json.
"""

import json
import logging
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.files import atomic_folder
from tagger.images import image_problem, load_image
from tagger.model.choice import openvino_installed
from tagger.model.convert import (
    MEMINFO,
    onnx_memory_shortfall,
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
    written = [saved_model, *write_tag_files(run_dir, tags)]
    if openvino_installed():
        openvino_model = run_dir / runfolder.EXPORT / runfolder.OPENVINO_MODEL
        export_openvino(saved_model, openvino_model, pixels, expected, tags)
        written.append(openvino_model)
    else:
        log.info("OpenVINO export skipped: OpenVINO is not installed (pip install -e '.[openvino]')")
    if not onnx_tools_installed():
        # Half of what export.py was asked for is missing: a warning, which --quiet still shows.
        log.warning("ONNX export skipped: tf2onnx and onnxruntime are not installed "
                    "(pip install tf2onnx onnxruntime, or pip install -e '.[export]')")
        return StepResult(written)
    refusal = onnx_memory_refusal(tagger.count_params())
    if refusal:
        log.warning(refusal)
        return StepResult(written)
    export_onnx(saved_model, onnx_model, pixels, expected, tags)
    return StepResult([*written, onnx_model])


def write_tag_files(run_dir: Path, tags: list[str]) -> list[Path]:
    """Beside the exported models, where the tools that run WD14 taggers look for them: selected_tags.csv (the
    tags in output order) and thresholds.json (each tag's threshold, as tag.py takes it; the run's, checked)."""
    export_dir = run_dir / runfolder.EXPORT
    try:
        count_of = dict(zip(*runfolder.read_vocabulary_counts(run_dir)))
    except TaggerError:  # counts are for reading only; the tags come from the model
        count_of = {}
    runfolder.write_selected_tags(export_dir, tags, [count_of.get(tag, 0) for tag in tags])
    if not (run_dir / runfolder.THRESHOLDS).is_file():  # train.py writes it beside the model; a copied model alone
        log.warning(f"{run_dir / runfolder.THRESHOLDS} is missing: export/ has no thresholds.json")
        return [export_dir / runfolder.SELECTED_TAGS]
    runfolder.read_thresholds(run_dir, tags)  # every tag's threshold checked before it is copied
    runfolder.write_json(export_dir / runfolder.THRESHOLDS, runfolder.read_json(run_dir / runfolder.THRESHOLDS))
    return [export_dir / runfolder.SELECTED_TAGS, export_dir / runfolder.THRESHOLDS]


def onnx_memory_refusal(parameters: int, meminfo: Path = MEMINFO) -> str | None:
    """Why the ONNX conversion is not started (it would swap or be killed), or None when memory suffices."""
    shortfall = onnx_memory_shortfall(parameters, meminfo)
    if shortfall is None:
        return None
    needed, available = shortfall
    return (f"ONNX export skipped: converting {parameters / 1e6:.0f} million parameters takes about "
            f"{needed / 2**30:.1f} GB of memory and {available / 2**30:.1f} GB is available; the SavedModel"
            f"{' and the OpenVINO model' if openvino_installed() else ''} were written (convert the SavedModel on a "
            "larger machine: python -m tf2onnx.convert --saved-model export/saved_model --output model.onnx)")


def export_openvino(saved_model: Path, target: Path, pixels: np.ndarray, expected: np.ndarray,
                    tags: list[str]) -> None:
    """OpenVINO IR (model.xml + model.bin) read from the checked SavedModel; checked the same way, float32.
    The tags, in output order, lie beside it as tagger_tags.json."""
    import openvino

    with atomic_folder(target) as temporary:
        temporary.mkdir(parents=True, exist_ok=True)
        converted = openvino.convert_model(str(saved_model))
        openvino.save_model(converted, str(temporary / "model.xml"), compress_to_fp16=False)
        compiled = openvino.Core().compile_model(str(temporary / "model.xml"), "CPU",
                                                 {"INFERENCE_PRECISION_HINT": "f32"})
        batches = [pixels[:1], pixels[1:]] if len(pixels) > 1 else [pixels]
        served = np.concatenate([np.asarray(compiled(batch)[0]) for batch in batches])
        check("OpenVINO", served, expected)
        (temporary / runfolder.MODEL_TAGS).write_text(json.dumps(tags, ensure_ascii=False), encoding="utf-8")
    log.info(f"wrote {target}")


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

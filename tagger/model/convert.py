"""The tagger in other formats: TF SavedModel, ONNX and OpenVINO, for export.py and the inference engines."""

import importlib.util
import logging
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from tagger.errors import TaggerError
from tagger.machine import MEMINFO, available_memory


def write_saved_model(model, folder: Path) -> None:
    """The model's serving signature (`serve`, any batch size) as a TF SavedModel; used by tagger.model.inference too."""
    model.export(str(folder), format="tf_saved_model", verbose=False)


def saved_model_to_onnx(saved_model: Path, target: Path) -> None:
    """Writes the SavedModel's serving signature as ONNX (dynamic batch size); used by tagger.model.inference too."""
    from tf2onnx import convert, tf_loader

    register_erfc()

    # tf2onnx logs every rewrite pass, and calls TensorFlow 1 APIs that log deprecations: noise to a user.
    for logger in ("tf2onnx", "tensorflow"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    graph, inputs, outputs, renames = tf_loader.from_saved_model(str(saved_model), None, None,
                                                                return_tensors_to_rename=True)
    convert.from_graph_def(graph, input_names=inputs, output_names=outputs, tensors_to_rename=renames,
                           output_path=str(target))


_ERFC_REGISTERED = []
ONNX_FILE = "model.onnx"  # to_onnx's cache file
OPENVINO_FILES = ("model.xml", "model.bin")  # to_openvino's cache: the graph, then the weights it names
# tf2onnx holds several copies of the graph and its constants while it rewrites: measured 21 GB for
# efficientnetv2-l (118 million parameters), about 180 bytes a parameter.
ONNX_BYTES_PER_PARAMETER = 180


def onnx_memory_shortfall(parameters: int, meminfo: Path = MEMINFO) -> tuple[float, float] | None:
    """(bytes the ONNX conversion of that many parameters takes, bytes available) where it would swap or be
    killed; None where memory suffices or cannot be told (not Linux: try)."""
    available = available_memory(meminfo)
    needed = parameters * ONNX_BYTES_PER_PARAMETER
    return (needed, available) if available is not None and needed > available else None


def register_erfc() -> None:
    """Teaches tf2onnx TensorFlow's Erfc as 1 - Erf: exact GELU (DINOv2's MLPs) is written with Erfc, which
    ONNX lacks, so without this a DINOv2 tagger has no ONNX export."""
    if _ERFC_REGISTERED:
        return
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            erf = ctx.make_node("Erf", [node.input[0]], name=utils.make_name(node.name + "_erf"))
            one = ctx.make_const(utils.make_name(node.name + "_one"), np.array(1, dtype=dtype))
            node.type = "Sub"
            ctx.replace_inputs(node, [one.output[0], erf.output[0]])

    _ERFC_REGISTERED.append(Erfc)


def onnx_tools_installed() -> bool:
    return all(importlib.util.find_spec(package) is not None for package in ("tf2onnx", "onnxruntime"))


def to_onnx(model, cache: Path | None = None, meminfo: Path = MEMINFO) -> bytes:
    """The model as a serialized ONNX graph, converted from the SavedModel write_saved_model writes.

    cache: a folder keeping the converted graph (model.onnx): read from there when it is there, else converted and
    written there whole. The conversion takes about 20 s for MobileNetV2 on 2 cores and minutes for the large
    backbones: paid once per trained model, as to_openvino's. Refused, before it starts, where it would run out of
    memory (onnx_memory_shortfall)."""
    from tagger.model.choice import check_engine

    check_engine("onnx", "float32")  # says how to install the tools when they are missing
    if cache is not None and (cache / ONNX_FILE).is_file():
        return (cache / ONNX_FILE).read_bytes()
    parameters = model.count_params()
    shortfall = onnx_memory_shortfall(parameters, meminfo)
    if shortfall is not None:
        needed, available = shortfall
        raise TaggerError(f"engine onnx: converting the model ({parameters / 1e6:.0f} million parameters) "
                          f"takes about {needed / 2**30:.1f} GB of memory and {available / 2**30:.1f} GB is available; "
                          "choose engine function or openvino")
    with temporary_saved_model(model) as saved_model:
        saved_model_to_onnx(saved_model, saved_model.parent / ONNX_FILE)
        graph = (saved_model.parent / ONNX_FILE).read_bytes()
    if cache is not None:
        from tagger.files import atomic_folder

        with atomic_folder(cache) as temporary:
            (temporary / ONNX_FILE).write_bytes(graph)
    return graph


def to_openvino(model, cache: Path | None = None):
    """The model as an openvino.Model, read from the SavedModel write_saved_model writes (weights in memory).

    cache: a folder keeping the converted model (model.xml, model.bin): read from there when it is complete,
    else converted and written there whole. Writing the SavedModel and converting it take about 30 s even for
    MobileNetV2 on 2 cores: paid once per trained model, not on every embed.py and tag.py."""
    from tagger.model.choice import check_engine

    check_engine("openvino", "float32")
    import openvino

    if cache is not None and openvino_cached(cache):
        return openvino.Core().read_model(str(cache / OPENVINO_FILES[0]))
    with temporary_saved_model(model) as saved_model:
        converted = openvino.convert_model(str(saved_model))
    if cache is not None:
        from tagger.files import atomic_folder

        with atomic_folder(cache) as temporary:
            openvino.save_model(converted, str(temporary / OPENVINO_FILES[0]), compress_to_fp16=False)
    return converted


def openvino_cached(cache: Path) -> bool:
    """Whether cache holds to_openvino's whole conversion (read from there instead of converting again)."""
    return all((cache / name).is_file() for name in OPENVINO_FILES)


@contextmanager
def temporary_saved_model(model):
    """The model written as a SavedModel into a temporary folder, removed after the block."""
    folder = Path(tempfile.mkdtemp(prefix="tagger-convert-"))
    try:
        write_saved_model(model, folder / "saved_model")
        yield folder / "saved_model"
    finally:
        shutil.rmtree(folder, ignore_errors=True)

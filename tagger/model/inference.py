"""Running a loaded tagger or embedding model over batches of pixels: one engine, one precision.

engine    keras:    model(pixels, training=False), eagerly, per batch (the reference).
          function: the same call traced once as a tf.function with a fixed input signature.
          onnx:     the model exported through tagger.use.export's SavedModel -> ONNX path and run by
                    ONNX Runtime on every core.
          openvino: the same SavedModel read by OpenVINO's converter and run by its CPU plugin on every
                    core (no tf2onnx: converting efficientnetv2-l to ONNX peaks at 21 GB of memory).
precision float32, or mixed_bfloat16: for keras and function, the same weights in a copy of the model
          whose layers compute in bfloat16 (variables stay float32; the pooled embedding and the tag layer
          stay float32); for openvino, its CPU plugin's bfloat16 inference precision. mixed_float16 is
          the same for GPUs (keras and function only).

Every batch function takes pixels (uint8 or float32, batch x size x size x 3, any batch size) and returns
a float32 numpy array. benchmarks/embed_throughput.py measures the engines; benchmarks/precision_fidelity.py
checks mixed_bfloat16 against float32.
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import get_args

import numpy as np

from tagger.errors import TaggerError
from tagger.model.choice import check_engine
from tagger.model.network import DROPOUT_LAYER, EMBEDDING_LAYER, TAGS_LAYER
from tagger.settings import Engine, Precision

ENGINES = get_args(Engine)
PRECISIONS = get_args(Precision)
# Kept in float32 under mixed_bfloat16: averaging a feature map in bfloat16 would cost the embedding
# its precision, and train.py keeps the tag layer float32 too. All three are cheap.
FLOAT32_LAYERS = (EMBEDDING_LAYER, DROPOUT_LAYER, TAGS_LAYER)

BatchFunction = Callable[[np.ndarray], np.ndarray]


def batch_function(model, engine: str = "function", precision: str = "float32",
                   image_size: int | None = None, jit_compile: bool = False,
                   cache: Path | None = None) -> BatchFunction:
    """A function pixels -> float32 outputs of model, run by engine at precision.

    image_size: the side of the input images; default the model's input shape. jit_compile applies to
    the function engine only (XLA; on this project's CPUs it is slower, see benchmarks/embed_throughput.py).
    cache: where engine onnx or openvino keeps the converted model (runfolder.engine_cache), or None.
    """
    if engine not in ENGINES:
        raise TaggerError(f"unknown inference engine {engine!r}; known: {', '.join(ENGINES)}")
    if precision not in PRECISIONS:
        raise TaggerError(f"unknown inference precision {precision!r}; known: {', '.join(PRECISIONS)}")
    check_engine(engine, precision)
    size = image_size or model.input_shape[1]
    if size is None:
        raise TaggerError("the model's input size is open: give image_size")
    if engine == "onnx":
        return onnx_batch_function(model, size, cache)
    if engine == "openvino":
        return openvino_batch_function(model, size, precision, cache=cache)
    model = with_precision(model, precision)
    if engine == "keras":
        return keras_batch_function(model)
    return compiled_batch_function(model, size, jit_compile)


def with_precision(model, precision: str):
    """model itself when it computes in precision already (float32, usually); else a copy whose layers compute
    in precision, holding model's weights (a model built under mixed_float16 on a GPU gets a float32 copy)."""
    import keras

    if all(layer.dtype_policy.name == precision for layer in _layers(model)
           if layer.name not in FLOAT32_LAYERS and hasattr(layer, "dtype_policy")):
        return model
    config = keras.saving.serialize_keras_object(model)
    _set_compute_policy(config, precision)
    copy = keras.saving.deserialize_keras_object(config)
    weights = model.get_weights()
    if len(copy.weights) != len(weights):
        raise TaggerError(f"the {precision} copy of {model.name} has {len(copy.weights)} weights, "
                          f"the model {len(weights)}: cannot run it at {precision}")
    copy.set_weights(weights)
    return copy


def _layers(model):
    """Every layer of model, nested models' layers included."""
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _layers(layer)


def _set_compute_policy(config, policy: str) -> None:
    """Every layer's dtype policy in a serialized model, nested models included, except FLOAT32_LAYERS."""
    if isinstance(config, list):
        for item in config:
            _set_compute_policy(item, policy)
        return
    if not isinstance(config, dict):
        return
    layer_config = config.get("config")
    if isinstance(layer_config, dict):
        dtype = layer_config.get("dtype")
        is_policy = isinstance(dtype, dict) and dtype.get("class_name") == "DTypePolicy"
        if is_policy and layer_config.get("name") not in FLOAT32_LAYERS:
            dtype["config"]["name"] = policy
    for value in config.values():
        _set_compute_policy(value, policy)


def keras_batch_function(model) -> BatchFunction:
    def run(pixels):
        return np.asarray(model(_float32(pixels), training=False), dtype=np.float32)

    return run


def compiled_batch_function(model, image_size: int, jit_compile: bool = False) -> BatchFunction:
    import tensorflow as tf

    # One signature with an open batch dimension: the last, smaller batch does not trace a second graph.
    @tf.function(input_signature=[tf.TensorSpec((None, image_size, image_size, 3), tf.float32)],
                 jit_compile=jit_compile, reduce_retracing=True)
    def forward(pixels):
        return tf.cast(model(pixels, training=False), tf.float32)

    def run(pixels):
        return forward(_float32(pixels)).numpy()

    return run


def onnx_batch_function(model, image_size: int, cache: Path | None = None) -> BatchFunction:
    """cache: to_onnx's cache folder."""
    from tagger.model.convert import to_onnx

    graph = to_onnx(model, cache)  # first: it says how to install the tools when they are missing
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = inference_threads()
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    if shape[1:3] != [image_size, image_size]:
        raise TaggerError(f"the ONNX model takes {shape[1]} x {shape[2]} pixels, not {image_size} x {image_size}")
    input_name = session.get_inputs()[0].name

    def run(pixels):
        return np.asarray(session.run(None, {input_name: _float32_numpy(pixels)})[0], dtype=np.float32)

    return run


def openvino_batch_function(model, image_size: int, precision: str, converted=None,
                            cache: Path | None = None) -> BatchFunction:
    """converted: what to_openvino(model) gave, when the caller compiles one model at several precisions;
    cache: to_openvino's cache folder."""
    from tagger.model.convert import to_openvino

    converted = converted if converted is not None else to_openvino(model, cache)
    import openvino

    shape = converted.inputs[0].get_partial_shape()
    if str(shape[1]) != str(image_size) or str(shape[2]) != str(image_size):
        raise TaggerError(f"the OpenVINO model takes {shape[1]} x {shape[2]} pixels, not {image_size} x {image_size}")
    # Explicit: on CPUs with bfloat16 units OpenVINO would otherwise run a float32 model in bfloat16.
    # THROUGHPUT: a few streams (one per core on 2 cores), each on its own part of the batch and never
    # waiting for the others: 0-5% faster than one request over every core (LATENCY) for batches of 8.
    compiled = openvino.Core().compile_model(converted, "CPU", {
        "INFERENCE_PRECISION_HINT": "f32" if precision == "float32" else "bf16",
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_NUM_THREADS": inference_threads(),
    })
    requests = [compiled.create_infer_request()
                for _ in range(max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))))]

    def run(pixels):
        parts = [part for part in np.array_split(_float32_numpy(pixels), len(requests)) if len(part)]
        for request, part in zip(requests, parts):
            request.start_async({0: part})
        outputs = []
        for request in requests[:len(parts)]:
            request.wait()
            outputs.append(np.array(request.get_output_tensor(0).data, dtype=np.float32))  # a copy: reused buffer
        return np.concatenate(outputs)

    return run


_THREADS: list[int] = []  # set once by use_threads


def use_threads(threads: int) -> int:
    """Every engine's CPU threads from now on (0: available_cores()); returns the count. Call before TensorFlow
    runs anything: its thread pools are made once per process (a later call keeps TensorFlow's, not the others')."""
    import tensorflow as tf

    count = threads or available_cores()
    try:
        # TensorFlow's default is every core of the machine, not the share this process may use: in a
        # container or a Slurm job of 8 cores on a 64-core host it would run 64 threads on 8 cores.
        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(count)
    except RuntimeError:  # already initialized by an earlier step in this process
        pass
    _THREADS[:] = [count]
    return count


def inference_threads() -> int:
    return _THREADS[0] if _THREADS else available_cores()


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _float32(pixels):
    import tensorflow as tf

    return tf.cast(pixels, tf.float32)


def _float32_numpy(pixels) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(pixels), dtype=np.float32)

#!/usr/bin/env python3
"""Is BatchNorm folded into the convolution before it, by each inference engine? Counts and throughput.

Keras 3 writes an inference BatchNorm as tf.nn.batch_normalization: Rsqrt, Mul, Sub and Add on the layer's
variables (no FusedBatchNorm op). Per backbone this prints:

- keras: BatchNormalization layers in the model, and the convolutions directly before one.
- function (tf.function, grappler): the forward graph after TensorFlow's default grappler passes, as the
  function engine runs it (weights are resource variables, read at run time), and the same graph frozen
  (weights as constants, as tf2onnx and a TF Serving export that freezes see it): convolutions, and the
  elementwise Mul / Add / Rsqrt nodes that a folded BatchNorm leaves none of.
- onnx: the graph tf2onnx writes, and the graph ONNX Runtime runs (optimization level ALL, written out).
- openvino: the converted model's ops, and the compiled CPU model's layers (get_runtime_model()).
- throughput (images/s, best of --rounds, the engines taking turns) of the function engine on the model with and
  without its BatchNorms folded into the convolutions (fold_batchnorm below: what folding in the exported model
  would buy), and of the onnx and openvino engines.

Measured on this project's 2 shared cores (random weights, 224 px, batches of 8): grappler does not fold
(52 Rsqrt in MobileNetV2's optimized graph: the weights are variables), ONNX Runtime and OpenVINO fold every
BatchNorm; folding by hand did not speed the function engine up (x0.97 MobileNetV2, x0.93 EfficientNetV2-B0:
noise), so nothing is folded in the exported model or the engines.

Weights are random ('none') with random BatchNorm statistics: counts and speed do not depend on them; the
folded model's outputs are checked against the original's.

    python benchmarks/batchnorm_folding.py [--backbones mobilenetv2,efficientnetv2-b0] [--image-size 224]
        [--batch-size 8] [--rounds 3]
"""

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONVOLUTIONS = {"Conv2D", "DepthwiseConv2dNative", "_FusedConv2D", "_FusedDepthwiseConv2dNative"}
ELEMENTWISE = ("Mul", "Add", "AddV2", "Sub", "Rsqrt", "FusedBatchNormV3", "BatchNormalization")


def random_statistics(model, seed: int = 0) -> None:
    """BatchNorm statistics and affine weights away from their 0 / 1 start, so folding is not a no-op."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2.0, variance.shape)])


def folded_batchnorm_class():
    import keras

    class FoldedBatchNorm(keras.layers.Layer):
        """Where a BatchNorm stood once folded into the convolution before it: its input, unchanged. Takes the
        arguments the graph passes a BatchNorm (training, mask)."""

        def call(self, inputs, training=None, mask=None):
            return inputs

    return FoldedBatchNorm


def fold_batchnorm(model):
    """A copy of model (a functional Keras model, nested ones included) in which each inference BatchNorm right
    after a convolution is folded into it: kernel x gamma / sqrt(variance + epsilon), bias (bias - mean) x that
    + beta. model itself when it has none .

    """
    import keras

    FoldedBatchNorm = folded_batchnorm_class()
    if not isinstance(model, keras.Model) or not _is_functional(model) or not _has_conv_batchnorm(model):
        return model
    pairs = _conv_batchnorm_pairs(model)
    folded_into = {conv: batchnorm for batchnorm, conv in pairs.items()}
    nested = {layer.name: fold_batchnorm(layer) for layer in model.layers if isinstance(layer, keras.Model)}

    def clone(layer):
        if layer.name in pairs:
            return FoldedBatchNorm(name=layer.name)
        if layer.name in nested:
            return nested[layer.name]
        config = layer.get_config()
        if layer.name in folded_into:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if layer.name in pairs or layer.name in nested or not layer.weights:
            continue
        target = copy.get_layer(layer.name)
        if layer.name not in folded_into:
            target.set_weights(layer.get_weights())
            continue
        batchnorm = model.get_layer(folded_into[layer.name])
        gamma, beta, mean, variance = (np.asarray(weight, np.float64) for weight in _batchnorm_weights(batchnorm))
        factor = gamma / np.sqrt(variance + batchnorm.epsilon)
        kernel = np.asarray(layer.kernel, np.float64)
        bias = np.asarray(layer.bias, np.float64) if layer.use_bias else np.zeros(len(factor))
        # Conv2D's kernel is (h, w, in, out); DepthwiseConv2D's (h, w, channels, multiplier), out = channels x multiplier.
        kernel = kernel * factor.reshape(kernel.shape[-2:] if isinstance(layer, keras.layers.DepthwiseConv2D)
                                         else factor.shape)
        target.set_weights([kernel.astype(np.float32), ((bias - mean) * factor + beta).astype(np.float32)])
    return copy


def _is_functional(model) -> bool:
    from keras.src.models.functional import Functional

    return isinstance(model, Functional)


def _has_conv_batchnorm(model) -> bool:
    import keras

    return bool(_conv_batchnorm_pairs(model)) or any(
        isinstance(layer, keras.Model) and _is_functional(layer) and _has_conv_batchnorm(layer) for layer in model.layers)


def _conv_batchnorm_pairs(model) -> dict[str, str]:
    """Name of each BatchNorm (inference statistics, over the last axis) fed by a convolution that feeds nothing
    else -> that convolution's name."""
    import keras

    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization) or layer.axis not in (-1, 3) \
                or not layer.center or len(layer._inbound_nodes) != 1:
            continue
        parents = layer._inbound_nodes[0].parent_nodes
        source = parents[0].operation if len(parents) == 1 else None
        if isinstance(source, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)) and len(source._outbound_nodes) == 1 \
                and source.get_config().get("activation") == "linear":
            pairs[layer.name] = source.name
    return pairs


def _batchnorm_weights(batchnorm):
    """gamma, beta, moving mean, moving variance (gamma 1 where the layer has no scale)."""
    gamma = batchnorm.gamma if batchnorm.scale else np.ones(batchnorm.moving_mean.shape)
    return gamma, batchnorm.beta, batchnorm.moving_mean, batchnorm.moving_variance


def op_counts(names) -> dict[str, int]:
    counts = collections.Counter(names)
    return {"conv": sum(counts[name] for name in CONVOLUTIONS),
            **{name: counts[name] for name in ELEMENTWISE if counts[name]}}


def grappler_counts(model, size: int) -> dict[str, dict]:
    """Op counts of the forward graph after grappler's default passes: with variables, and frozen."""
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )
    from tensorflow.python.grappler import tf_optimizer
    from tensorflow.python.training import saver

    forward = tf.function(lambda pixels: model(pixels, training=False)).get_concrete_function(
        tf.TensorSpec((None, size, size, 3), tf.float32))
    results = {}
    for label, function in (("variables", forward), ("frozen", convert_variables_to_constants_v2(forward))):
        graph_def = function.graph.as_graph_def()
        meta = saver.export_meta_graph(graph_def=graph_def, graph=function.graph)
        fetches = meta_graph_pb2.CollectionDef()
        for tensor in function.outputs:
            fetches.node_list.value.append(tensor.name)
        meta.collection_def["train_op"].CopyFrom(fetches)
        optimized = tf_optimizer.OptimizeGraph(config_pb2.ConfigProto(), meta)
        results[label] = op_counts(node.op for node in optimized.node)
    return results


def onnx_counts(model) -> tuple[dict, dict, bytes]:
    import onnx
    import onnxruntime

    from tagger.model.convert import to_onnx

    graph = to_onnx(model)
    written = op_counts(node.op_type if node.op_type != "Conv" else "Conv2D" for node in onnx.load_from_string(graph).graph.node)
    with tempfile.TemporaryDirectory() as folder:
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        nodes = onnx.load(options.optimized_model_filepath).graph.node
        run = op_counts("Conv2D" if node.op_type in ("Conv", "FusedConv", "NhwcFusedConv") else node.op_type
                        for node in nodes)
    return written, run, graph


def openvino_counts(model) -> tuple[dict, dict, object]:
    import openvino

    from tagger.model.convert import to_openvino

    converted = to_openvino(model)
    names = {"Convolution": "Conv2D", "GroupConvolution": "Conv2D", "Multiply": "Mul", "Add": "Add",
             "Subtract": "Sub", "BatchNormInference": "BatchNormalization"}
    written = op_counts(names.get(op.get_type_name(), op.get_type_name()) for op in converted.get_ops())
    compiled = openvino.Core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    layers = [op.get_rt_info()["layerType"].astype(str) for op in compiled.get_runtime_model().get_ops()]
    run = op_counts("Conv2D" if layer == "Convolution" else {"Eltwise": "Add"}.get(layer, layer) for layer in layers)
    return written, run, converted


def images_per_second(runs: dict, pixels: np.ndarray, batch_size: int, rounds: int) -> dict[str, float]:
    """Best images/s of each run over rounds, the runs taking turns within each round (a busy neighbour then
    slows all of them alike), after one untimed batch each (tracing, compiling)."""
    def all_batches(run):
        return [run(pixels[start:start + batch_size]) for start in range(0, len(pixels), batch_size)]

    for run in runs.values():
        run(pixels[:batch_size])
    best = dict.fromkeys(runs, 0.0)
    for _ in range(rounds):
        for label, run in runs.items():
            start = time.perf_counter()
            all_batches(run)
            best[label] = max(best[label], len(pixels) / (time.perf_counter() - start))
    return best


def onnx_run(graph: bytes):
    import onnxruntime

    from tagger.model.inference import available_cores

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = available_cores()
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda pixels: session.run(None, {name: pixels})[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbones", default="mobilenetv2,efficientnetv2-b0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()

    import keras

    from tagger.model.inference import batch_function, openvino_batch_function
    from tagger.model.network import backbone_of, build_tagger, embedding_model
    from tagger.settings import ModelSettings

    size = arguments.image_size
    pixels = np.random.default_rng(0).integers(0, 256, (arguments.images, size, size, 3)).astype(np.float32)
    for name in arguments.backbones.split(","):
        keras.utils.set_random_seed(0)
        tagger = build_tagger(ModelSettings(backbone=name, image_size=size, weights="none"), 10)
        random_statistics(tagger)
        model = embedding_model(tagger)
        backbone = backbone_of(tagger)
        batchnorms = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in backbone.layers)
        folded_model = fold_batchnorm(model)
        folded_count = sum(layer.__class__.__name__ == "FoldedBatchNorm" for layer in backbone_of(folded_model).layers)
        difference = np.abs(folded_model.predict(pixels[:4], verbose=0) - model.predict(pixels[:4], verbose=0)).max()

        print(f"\n## {name} at {size} px: {batchnorms} BatchNormalization layers, {folded_count} right after a "
              f"convolution (folded: outputs differ by at most {difference:.1e})")
        print("| graph | convolutions | elementwise ops (BatchNorm leftovers among them) |")
        print("|---|---|---|")

        def row(label, counts):
            rest = ", ".join(f"{op} {count}" for op, count in counts.items() if op != "conv")
            print(f"| {label} | {counts['conv']} | {rest or 'none'} |")

        grappler = grappler_counts(model, size)
        row("function engine, after grappler (weights as variables)", grappler["variables"])
        row("function engine graph frozen, after grappler", grappler["frozen"])
        row("BatchNorm folded, after grappler (weights as variables)", grappler_counts(folded_model, size)["variables"])
        onnx_written, onnx_optimized, graph = onnx_counts(model)
        row("ONNX as tf2onnx writes it", onnx_written)
        row("ONNX as ONNX Runtime runs it (level ALL)", onnx_optimized)
        openvino_written, openvino_compiled, converted = openvino_counts(model)
        row("OpenVINO converted model", openvino_written)
        row("OpenVINO compiled CPU model", openvino_compiled)

        speeds = images_per_second({
            "function, BatchNorm as Keras writes it (the engine)": batch_function(model, "function"),
            "function, BatchNorm folded": batch_function(folded_model, "function"),
            "onnx (ONNX Runtime folds it)": onnx_run(graph),
            "openvino (folds it)": openvino_batch_function(model, size, "float32", converted),
        }, pixels, arguments.batch_size, arguments.rounds)
        print("\n| engine | images/s (best of rounds) |\n|---|---|")
        for label, speed in speeds.items():
            print(f"| {label} | {speed:.1f} |")
        print(f"folding, function engine: x{speeds['function, BatchNorm folded'] / speeds['function, BatchNorm as Keras writes it (the engine)']:.2f}")


if __name__ == "__main__":
    main()

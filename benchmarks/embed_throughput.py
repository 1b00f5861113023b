#!/usr/bin/env python3
"""Embedding throughput on real JPEGs: the naive path against the optimized one, and every inference
engine and precision of tagger.model.inference, for several backbones at one image size.

- NAIVE: PIL decode + resize in a Python loop, then model.predict per batch, float32.
- each engine x precision (tagger.model.inference.batch_function) on images decoded beforehand: the model alone.
- OPTIMIZED, end to end from the JPEG files: tagger.images.image_dataset (tf.data: parallel decode,
  prefetch) feeding the fastest combination: once the fastest float32 one, once the fastest of all
  (bfloat16 included; whether bfloat16 holds on real weights is benchmarks/precision_fidelity.py's check).

Model FLOPs per image are counted from the frozen forward graph at batch 1: 2 x the multiply-adds of
every Conv2D, DepthwiseConv2dNative and MatMul (elementwise work: normalization, activations, pooling,
is not counted, as in published model FLOPs). Each path's images/s x FLOPs/image is printed as a share of
this machine's float32 and bfloat16 matrix-product rates (tf.matmul 4096 x 4096, best of 3 rounds, measured
at the start and at the end, the higher kept).
One-off costs (tracing, conversion, tf.data's start: the first batch of each path) are not in the rates;
conversion times are shown apart. Each path is measured --rounds times (2) and its best round is reported,
its worst beside it: on shared cores another process only ever slows a round down. On a GPU the combinations are
keras/function x float32/mixed_float16 instead, and the float16 matmul rate is measured too.

Targets (issue 3): optimized >= 1.5 x naive, and for efficientnetv2-l the optimized path end to end
>= 60% of the bfloat16 matmul rate. Weights are random ('none'): speed does not depend on them.

    python benchmarks/embed_throughput.py [--images 40] [--batch-size 8] [--image-size 384] [--rounds 2]
        [--backbones resnet50,efficientnetv2-s,efficientnetv2-l] [--engines keras,function,onnx,openvino]
        [--skip onnx:efficientnetv2-l] [--xla]
"""

import argparse
import csv
import gc
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_IMAGES = ROOT.parent / "shared" / "data" / "coco128"
# tf2onnx needs about 21 GB of memory (peak RSS, measured) to convert efficientnetv2-l: more than this
# class of machine can spare, so that one conversion is skipped unless asked for.
DEFAULT_SKIP = "onnx:efficientnetv2-l"
SPEED_TARGET = 1.5
MATMUL_TARGET = 0.6
TARGET_BACKBONE = "efficientnetv2-l"


def machine() -> tuple[str, list]:
    import tensorflow as tf

    from tagger.model.inference import available_cores

    model_name, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model_name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    units = [flag for flag in ("avx512f", "avx512_bf16", "amx_bf16", "avx512_fp16") if flag in flags]
    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{model_name}, {available_cores()} cores available to this process ({os.cpu_count()} online), "
            f"{' '.join(units) or 'no AVX-512'}; GPUs: {', '.join(names) or 'none'}; load average {load}"), gpus


def matmul_rate(dtype: str, size: int = 4096, rounds: int = 3, seconds: float = 1.5) -> float:
    """GFLOP/s of tf.matmul size x size in dtype: the best of a few rounds of about `seconds` each."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal((size, size)), dtype)
    b = tf.cast(tf.random.normal((size, size)), dtype)
    tf.linalg.matmul(a, b).numpy()
    best = 0.0
    for _ in range(rounds):
        repeats, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            tf.linalg.matmul(a, b).numpy()  # .numpy() waits for the product (on a GPU too)
            repeats += 1
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def model_flops(model, image_size: int) -> float:
    """2 x multiply-adds of the convolutions and matrix products of one image, from the frozen graph."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    forward = tf.function(lambda pixels: model(pixels, training=False))
    graph = convert_variables_to_constants_v2(
        forward.get_concrete_function(tf.TensorSpec((1, image_size, image_size, 3), tf.float32))).graph
    total = 0
    for op in graph.get_operations():
        if op.type in ("Conv2D", "DepthwiseConv2dNative"):
            output = op.outputs[0].shape.as_list()  # 1, height, width, output channels (NHWC)
            kernel = op.inputs[1].shape.as_list()  # height, width, input channels, output channels (or multiplier)
            per_output = kernel[0] * kernel[1] * (kernel[2] if op.type == "Conv2D" else 1)
            total += 2 * int(np.prod(output)) * per_output
        elif op.type == "MatMul":
            a, b = op.inputs[0].shape.as_list(), op.inputs[1].shape.as_list()
            rows = a[1] if op.get_attr("transpose_a") else a[0]
            inner = a[0] if op.get_attr("transpose_a") else a[1]
            columns = b[0] if op.get_attr("transpose_b") else b[1]
            total += 2 * rows * inner * columns
    return float(total)


def coco_paths(folder: Path, count: int) -> list[str]:
    with open(folder / "tags.csv", newline="", encoding="utf-8") as handle:
        paths = [str(folder / row["image"]) for row in csv.DictReader(handle)]
    if count > len(paths):
        raise SystemExit(f"--images {count}: {folder} has only {len(paths)} images")
    return paths[:count]


def naive_pixels(paths: list[str], size: int) -> np.ndarray:
    """What a first script would do: open, convert, resize, one image after another."""
    from PIL import Image

    pixels = []
    for path in paths:
        with Image.open(path) as image:
            pixels.append(np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)))
    return np.stack(pixels).astype(np.float32)


def batches(items, batch_size: int):
    return [items[start:start + batch_size] for start in range(0, len(items), batch_size)]


def steady_rate(batches_in, step) -> float:
    """Images/s of step over every batch but the first, which takes the one-off costs (tracing, tf.data's
    start); the clock starts when the first batch is done, so the pipeline's overlap is counted as it runs,
    and stops when the last is done: tf.data's end-of-data signal, which next to OpenVINO's threads can take
    up to 2 s (measured), is a one-off of a pipeline too."""
    count, start, end = 0, None, None
    for batch in batches_in:
        step(batch)
        end = time.perf_counter()
        if start is None:
            start = end
        else:
            count += len(batch)
    return count / (end - start)


def best_of(rounds: int, measure) -> tuple[float, float]:
    """The best and the worst of `rounds` measurements: other processes on shared cores only ever slow a
    round down, so the best is the path's own speed; the worst is printed beside it."""
    rates = [measure() for _ in range(rounds)]
    return max(rates), min(rates)


class Rows:
    """Each path's images/s, printed as measured and kept for the table of shares at the end."""

    def __init__(self, flops_per_image: float):
        self.flops, self.rows = flops_per_image, []

    def add(self, label: str, measured: tuple[float, float], note: str = "") -> None:
        best, worst = measured
        self.rows.append((label, best, note))
        print(f"  {label:<34} {best:6.2f} img/s (worst round {worst:6.2f})  {best * self.flops / 1e9:6.1f} GFLOP/s  "
              f"{note}".rstrip(), flush=True)


def measure_backbone(backbone: str, arguments, paths: list[str],
                     combinations: list[tuple[str, str]], skip: set[str]) -> dict:
    import keras

    from tagger.images import image_dataset, load_image
    from tagger.model.convert import to_openvino
    from tagger.model.inference import batch_function, openvino_batch_function
    from tagger.model.network import build_tagger, embedding_model
    from tagger.settings import ModelSettings

    size, batch_size, rounds = arguments.image_size, arguments.batch_size, arguments.rounds
    keras.utils.clear_session()
    gc.collect()
    start = time.perf_counter()
    model = embedding_model(build_tagger(ModelSettings(backbone=backbone, image_size=size, weights="none"), 80))
    built = time.perf_counter() - start
    flops = model_flops(model, size)
    rows = Rows(flops)
    print(f"\n{backbone} at {size} px: {model.count_params() / 1e6:.1f} M parameters, "
          f"{flops / 1e9:.2f} GFLOP per image; built in {built:.1f} s", flush=True)

    # Decoding alone, both ways, so its share of each end-to-end time is visible.
    start = time.perf_counter()
    for chunk in batches(paths, batch_size):
        naive_pixels(chunk, size)
    naive_decode = len(paths) / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in image_dataset(paths, size, batch_size):
        pass
    dataset_decode = len(paths) / (time.perf_counter() - start)
    print(f"  decoding only: PIL loop {naive_decode:.1f} img/s, tf.data image_dataset {dataset_decode:.1f} img/s")

    # NAIVE, end to end.
    naive = best_of(rounds, lambda: steady_rate(
        batches(paths, batch_size),
        lambda chunk: model.predict(naive_pixels(chunk, size), batch_size=batch_size, verbose=0)))
    rows.add("NAIVE (PIL loop + predict, float32)", naive)

    # Each engine x precision on pixels decoded beforehand: the model's own speed.
    decoded = [np.stack([load_image(path, size) for path in chunk]) for chunk in batches(paths, batch_size)]
    measured, kept = {}, {}  # kept: "float32" / "any" -> ((engine, precision), batch function)
    converted = None
    for engine, precision in combinations:
        label = f"{engine} {precision}"
        if f"{engine}:{backbone}" in skip or f"{engine}:{precision}:{backbone}" in skip:
            print(f"  {label:<34} skipped (--skip)")
            continue
        jit = engine == "function-xla"
        start = time.perf_counter()
        try:
            if engine == "openvino":  # one conversion for both precisions: it is the slow part
                converted = converted if converted is not None else to_openvino(model)
                run = openvino_batch_function(model, size, precision, converted)
            else:
                run = batch_function(model, "function" if jit else engine, precision, size, jit_compile=jit)
            run(decoded[0])
        except Exception as error:  # noqa: BLE001  (an engine failing, e.g. a conversion error, is a result)
            print(f"  {label:<34} failed: {type(error).__name__}: {str(error).splitlines()[0][:150]}")
            continue
        prepared = time.perf_counter() - start
        measured[(engine, precision)] = best_of(rounds, lambda run=run: steady_rate(decoded, run))
        note = f"(one-off {prepared:.0f} s{', conversion shared' if engine == 'openvino' and precision != 'float32' else ''})"
        rows.add(label, measured[(engine, precision)], note)
        # Keep only the fastest float32 and the fastest overall alive: a converted model holds its weights.
        for key in ("float32", "any"):
            if key == "float32" and precision != "float32":
                continue
            if key not in kept or measured[(engine, precision)][0] > measured[kept[key][0]][0]:
                kept[key] = ((engine, precision), run)
        del run
        gc.collect()

    # OPTIMIZED, end to end from the JPEG files.
    results = {"backbone": backbone, "flops": flops, "naive": naive[0], "optimized": {}, "rows": rows.rows}
    for key, description in (("float32", "float32"), ("any", "fastest of all")):
        if key not in kept:
            continue
        (engine, precision), run = kept[key]
        rate = best_of(rounds, lambda run=run: steady_rate(image_dataset(paths, size, batch_size), run))
        results["optimized"][key] = (engine, precision, rate[0])
        rows.add(f"OPTIMIZED {description}", rate, f"tf.data + {engine} {precision}: {rate[0] / naive[0]:.2f} x naive")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=40, help="real JPEGs from --image-folder (default 40)")
    parser.add_argument("--image-folder", type=Path, default=DEFAULT_IMAGES, help="a folder with tags.csv")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=384)
    parser.add_argument("--backbones", default="resnet50,efficientnetv2-s,efficientnetv2-l")
    parser.add_argument("--skip", default=DEFAULT_SKIP,
                        help="comma-separated engine:backbone or engine:precision:backbone not to run "
                        f"(default {DEFAULT_SKIP}: its tf2onnx conversion peaks at about 21 GB of memory)")
    parser.add_argument("--xla", action="store_true", help="also the function engine with jit_compile (XLA)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="measure each path this many times and report the best (and the worst)")
    parser.add_argument("--engines", default="keras,function,onnx,openvino", help="which engines to measure")
    arguments = parser.parse_args()

    import importlib.util

    import tensorflow as tf

    started = time.perf_counter()
    description, gpus = machine()
    print(f"machine: {description}")
    print(f"TensorFlow {tf.__version__}; {arguments.images} images from {arguments.image_folder}, "
          f"batches of {arguments.batch_size}, {arguments.image_size} px")
    engines = [engine.strip() for engine in arguments.engines.split(",")]
    if gpus:
        engines, precisions = [e for e in engines if e in ("keras", "function")], ["float32", "mixed_float16"]
    else:
        precisions = ["float32", "mixed_bfloat16"]
        if "openvino" in engines and importlib.util.find_spec("openvino") is None:
            print("OpenVINO: not installed (pip install -e '.[openvino]'); its engine is not measured")
            engines.remove("openvino")
    if arguments.xla:
        engines.insert(2, "function-xla")
    combinations = [(engine, precision) for engine in engines for precision in precisions
                    if not (engine == "onnx" and precision != "float32")]

    dtypes = ["float32", "bfloat16", *(["float16"] if gpus else [])]
    at_start = {dtype: matmul_rate(dtype) for dtype in dtypes}
    print("matmul rates at the start: " + ", ".join(f"{dtype} {rate:.0f} GFLOP/s" for dtype, rate in at_start.items()))

    if arguments.images < 2 * arguments.batch_size:
        raise SystemExit("--images must be at least twice --batch-size: the first batch of each path is not timed")
    paths = coco_paths(arguments.image_folder, arguments.images)
    skip = {item.strip() for item in arguments.skip.split(",") if item.strip()}
    results = [measure_backbone(backbone.strip(), arguments, paths, combinations, skip)
               for backbone in arguments.backbones.split(",")]

    # Measured again at the end, and the higher of the two kept: a rate measured while another process
    # ran would be low, and would flatter every share below.
    at_end = {dtype: matmul_rate(dtype) for dtype in dtypes}
    reference = {dtype: max(at_start[dtype], at_end[dtype]) for dtype in dtypes}
    print("\nmatmul rates at the end: " + ", ".join(f"{dtype} {rate:.0f} GFLOP/s" for dtype, rate in at_end.items())
          + "; shares below are of the higher of start and end")
    for result in results:
        print(f"{result['backbone']} ({result['flops'] / 1e9:.2f} GFLOP per image)")
        for label, images_per_second, _ in result["rows"]:
            achieved = images_per_second * result["flops"] / 1e9
            shares = "  ".join(f"{achieved / rate:6.1%} of {dtype} matmul" for dtype, rate in reference.items())
            print(f"  {label:<34} {achieved:6.1f} GFLOP/s  {shares}")

    print("\ntargets")
    bfloat16_rate = reference["bfloat16"]
    for result in results:
        for engine, precision, rate in result["optimized"].values():
            ratio = rate / result["naive"]
            print(f"  {result['backbone']:<17} optimized ({engine} {precision}) / naive = {ratio:.2f} "
                  f"(target >= {SPEED_TARGET}): {'MET' if ratio >= SPEED_TARGET else 'NOT MET'}")
        if result["backbone"] == TARGET_BACKBONE and "any" in result["optimized"]:
            engine, precision, rate = result["optimized"]["any"]
            share = rate * result["flops"] / 1e9 / bfloat16_rate
            print(f"  {TARGET_BACKBONE} optimized end to end ({engine} {precision}) = {share:.1%} of the "
                  f"bfloat16 matmul rate (target >= {MATMUL_TARGET:.0%}): "
                  f"{'MET' if share >= MATMUL_TARGET else 'NOT MET'}")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average at the end: {load} (other processes on these cores lower every rate)")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

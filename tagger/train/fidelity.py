"""train.py's check of the trained model at reduced precision, so --embed.precision auto may use it.

On up to `images` validation images it compares the pooled embeddings at the machine's reduced precision
(mixed_bfloat16 on a CPU, mixed_float16 on a GPU) with float32, and the tag decisions they lead to at the
chosen thresholds. The result goes into training.json; tagger.model.choice reads it.
"""

import logging
import time

import numpy as np

from tagger.images import image_dataset
from tagger.model.choice import Machine, passes

log = logging.getLogger(__name__)


def reduced_precision_check(tagger, paths: list[str], thresholds: np.ndarray, image_size: int, batch_size: int,
                            float32_embeddings: np.ndarray | None = None, machine: Machine | None = None) -> dict:
    """{precision: {passed, min_cosine, same_decisions, images, engine, seconds[, speed]}} for the machine's reduced
    precision; speed (speed_trial), where the model passed on a machine with units for that precision.

    float32_embeddings: the images' float32 embeddings when already computed (the stage-1 cache), else computed.
    bfloat16 is checked on every CPU, with or without bfloat16 units (emulated there, slower, same arithmetic),
    so a model trained on one machine is ready for a faster one. Always by TensorFlow's function engine: the
    check must not depend on which engines are installed.
    """
    from tagger.model.inference import batch_function
    from tagger.model.network import TAGS_LAYER, embedding_model

    machine = machine or Machine.this_one()
    precision = "mixed_float16" if machine.gpus else "mixed_bfloat16"
    start = time.perf_counter()
    embedder = embedding_model(tagger)
    # One traced function per precision, shared by the check and the speed trial (a trace of a large backbone
    # costs seconds; the float32 one is only built when the stage-1 cache does not hold these images).
    predicts = {precision: batch_function(embedder, "function", precision, image_size)}
    if float32_embeddings is None:
        predicts["float32"] = batch_function(embedder, "function", "float32", image_size)
        float32_embeddings = embeddings_of(predicts["float32"], paths, image_size, batch_size)
    reduced = embeddings_of(predicts[precision], paths, image_size, batch_size)
    kernel, bias = tagger.get_layer(TAGS_LAYER).get_weights()
    expected = tag_probabilities(np.asarray(float32_embeddings), kernel, bias) >= thresholds
    decisions = tag_probabilities(reduced, kernel, bias) >= thresholds
    cosines = cosine_per_row(reduced, np.asarray(float32_embeddings))
    min_cosine, same = float(cosines.min()) if len(cosines) else 1.0, float(np.mean(decisions == expected))
    record = {"passed": passes(min_cosine, same), "min_cosine": round(min_cosine, 6),
              "same_decisions": round(same, 6), "images": len(paths), "engine": "function"}
    if record["passed"] and machine.reduced_precision() == precision and not machine.gpus and paths:
        predicts.setdefault("float32", batch_function(embedder, "function", "float32", image_size))
        record["speed"] = speed_trial(predicts, precision, paths, image_size, batch_size)
    record["seconds"] = round(time.perf_counter() - start, 2)
    log.info(f"{precision} check on {len(paths)} validation images: embedding cosine min {min_cosine:.4f}, same "
          f"decisions {same:.2%}: {'passed' if record['passed'] else 'failed'} (bar: cosine >= 0.99, >= 99% same "
          f"decisions; {record['seconds']:.1f} s); --embed.precision auto "
          + (f"uses it where the hardware has it" if record["passed"] else "stays float32 for this model"))
    return {precision: record}


def speed_trial(predicts: dict, precision: str, paths: list[str], image_size: int, batch_size: int) -> dict:
    """Images per second of one batch through predicts (precision -> the function engine's traced function) at
    float32 and at the reduced precision, each timed on its second call, on this CPU: bfloat16 units do not make every network faster
    (TensorFlow's bfloat16 kernels lose on MobileNetV2's small depthwise convolutions, 0.85x in
    benchmarks/embed_throughput.py), and choose_inference reads this before using them."""
    from tagger.model.choice import cpu_model

    pixels = next(iter(image_dataset(paths[:batch_size], image_size, batch_size)))
    rates = {}
    for name in ("float32", precision):
        predicts[name](pixels)  # traced at this batch's shape if the check's last batch was smaller
        start = time.perf_counter()
        predicts[name](pixels)
        rates[name] = round(len(pixels) / max(time.perf_counter() - start, 1e-9), 2)
    return {"cpu": cpu_model(), "float32_images_per_second": rates["float32"],
            "reduced_images_per_second": rates[precision]}


def embeddings_of(predict, paths: list[str], image_size: int, batch_size: int) -> np.ndarray:
    batches = [predict(pixels) for pixels in image_dataset(paths, image_size, batch_size)]
    return np.concatenate(batches) if batches else np.zeros((0, 0), np.float32)


def tag_probabilities(embeddings: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The tag layer (dropout is off at inference) in float64, the same for both precisions."""
    return 1 / (1 + np.exp(-(embeddings.astype(np.float64) @ kernel.astype(np.float64) + bias)))


def cosine_per_row(outputs: np.ndarray, expected: np.ndarray) -> np.ndarray:
    outputs, expected = outputs.astype(np.float64), expected.astype(np.float64)
    norms = np.linalg.norm(outputs, axis=1) * np.linalg.norm(expected, axis=1)
    return (outputs * expected).sum(1) / np.maximum(norms, 1e-30)

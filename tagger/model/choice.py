"""Which engine and precision run the network when the settings say auto.

The choice depends only on the machine (a GPU, OpenVINO installed, bfloat16 units in the CPU) and on the model's
fidelity record in training.json, so it is the same on every run on one machine. Each step that runs the network
prints one line saying what was chosen and why (InferenceChoice.describe).
"""

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.logs import counted
from tagger.model.convert import openvino_cached

log = logging.getLogger(__name__)

# CPU flags of bfloat16 arithmetic units (Linux /proc/cpuinfo): without them bfloat16 is emulated, and slower.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# Converting a model for OpenVINO (a SavedModel written, then converted) takes about 30 s on 2 cores; OpenVINO runs
# 1.2-1.5x the compiled function on CPUs (benchmarks/embed_throughput.py). Below this many images the conversion
# costs more than it saves, so auto keeps the function engine unless the run folder already holds the conversion.
OPENVINO_MIN_IMAGES = 2000
# Engines that run a conversion of the model, kept in the run folder (runfolder.engine_cache) while it is unchanged.
CONVERTED_ENGINES = ("onnx", "openvino")
# The bar a reduced precision must pass on the validation images (tagger.train.fidelity) before auto uses it.
MIN_COSINE = 0.99
MIN_SAME_DECISIONS = 0.99


@dataclass(frozen=True)
class Machine:
    """What the choice depends on; tests pass one of their own to cover machines they do not run on."""

    gpus: int
    bfloat16_units: bool
    openvino: bool
    cpu: str = ""  # the CPU's model name: a speed measured on another CPU does not decide for this one

    @staticmethod
    def this_one() -> "Machine":
        return Machine(gpus=gpu_count(), bfloat16_units=cpu_has_bfloat16_units(), openvino=openvino_installed(),
                       cpu=cpu_model())

    def reduced_precision(self) -> str | None:
        """The faster precision this machine has units for, or None."""
        if self.gpus:
            return "mixed_float16"
        return "mixed_bfloat16" if self.bfloat16_units else None


@dataclass(frozen=True)
class InferenceChoice:
    engine: str
    precision: str
    engine_reason: str
    precision_reason: str

    def describe(self) -> str:
        return (f"inference: engine {self.engine} ({self.engine_reason}), "
                f"precision {self.precision} ({self.precision_reason})")

    def conversion_cache(self, run_dir: Path, model_file: Path, part: str) -> Path | None:
        """Where this engine keeps its conversion of model_file's part in the run folder; None for an engine that
        runs the Keras model itself."""
        return runfolder.engine_cache(run_dir, model_file, part, self.engine) if self.engine in CONVERTED_ENGINES \
            else None


def choose_inference(engine: str, precision: str, fidelity: dict | None, machine: Machine | None = None,
                     reduced_allowed: str | None = None, images: int | None = None,
                     converted: bool = False) -> InferenceChoice:
    """The engine and precision to run, resolving 'auto' for this machine and this model.

    fidelity: training.json's record of the model's reduced-precision check (None: never checked).
    reduced_allowed: why reduced precision may not be used yet, e.g. for a model not yet trained (auto -> float32).
    images: how many images the step will run (None: not known); converted: the OpenVINO conversion is at hand.
    """
    machine = machine or Machine.this_one()
    engine, engine_reason = _engine(engine, machine, images, converted)
    if precision != "auto":
        return InferenceChoice(engine, precision, engine_reason, "as set")
    precision, precision_reason = _precision(engine, fidelity, machine, reduced_allowed)
    return InferenceChoice(engine, precision, engine_reason, precision_reason)


def _engine(engine: str, machine: Machine, images: int | None, converted: bool) -> tuple[str, str]:
    if engine != "auto":
        return engine, "as set"
    if machine.gpus:
        return "function", "a GPU: the compiled TensorFlow function"
    if machine.openvino and images is not None and images < OPENVINO_MIN_IMAGES and not converted:
        return "function", (f"{counted(images, 'image')}: converting the model for OpenVINO would cost more than it "
                            f"saves below {OPENVINO_MIN_IMAGES:,}")
    if machine.openvino:
        return "openvino", "the fastest on CPUs, installed"
    return "function", "OpenVINO is not installed; pip install -e '.[openvino]' for the fastest CPU engine"


def _precision(engine: str, fidelity: dict | None, machine: Machine, not_yet: str | None) -> tuple[str, str]:
    reduced = machine.reduced_precision()
    if reduced is None:
        return "float32", "this CPU has no bfloat16 units"
    if engine == "onnx" or (engine == "openvino" and reduced == "mixed_float16"):
        return "float32", f"engine {engine} has no {reduced}"
    if not_yet:
        return "float32", not_yet
    record = (fidelity or {}).get(reduced)
    if record is None:
        return "float32", (f"the model was never checked at {reduced} (train.py records the check in training.json; "
                           "a run folder from before it has none)")
    figures = (f"embedding cosine min {record['min_cosine']:.4f}, same decisions {record['same_decisions']:.2%} "
               f"on {record['images']} validation images")
    if not record["passed"]:
        return "float32", f"the model failed its {reduced} check: {figures}"
    speed = record.get("speed")
    if engine == "function" and speed and speed.get("cpu") == machine.cpu \
            and speed["reduced_images_per_second"] < speed["float32_images_per_second"]:
        return "float32", (f"the model passed its check, but on this CPU {reduced} ran slower than float32 in it "
                           f"({speed['reduced_images_per_second']:g} against {speed['float32_images_per_second']:g} "
                           f"images/s on the function engine)")
    return reduced, f"the model passed its check: {figures}"


def inference_for_run(run_dir: Path, options, images: int, part: str | None = None) -> InferenceChoice:
    """The engine and precision for a trained run's model (options: the embed or tag section) over this many
    images, its threads set; logged. part: which part of the model runs ("tagger"), when a conversion already
    in the run folder may decide for OpenVINO; None where every process must choose alike whatever another one
    has written meanwhile (embed.py's shards key their pieces by the engine)."""
    check_engine(options.engine, options.precision)  # before TensorFlow is imported: a second, not ten
    from tagger.model.inference import use_threads

    converted = False
    if part and options.engine == "auto" and images < OPENVINO_MIN_IMAGES and openvino_installed():
        converted = openvino_cached(runfolder.engine_cache(run_dir, run_dir / runfolder.MODEL, part, "openvino"))
    choice = choose_inference(options.engine, options.precision, runfolder.read_fidelity(run_dir), images=images,
                              converted=converted)
    threads = use_threads(options.threads)
    log.info(f"{choice.describe()}; {threads} CPU threads")
    return choice


def passes(min_cosine: float, same_decisions: float) -> bool:
    return min_cosine >= MIN_COSINE and same_decisions >= MIN_SAME_DECISIONS


def cpuinfo_field(name: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The first CPU's value of a /proc/cpuinfo field ("" if absent), or None off Linux."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(name)), "")


def cpu_has_bfloat16_units(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    flags = (cpuinfo_field("flags", cpuinfo) or "").split()  # not Linux: no way to tell cheaply; float32 is safe
    return any(flag in flags for flag in BFLOAT16_CPU_FLAGS)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name and its core count ("AMD EPYC x 2"), or the platform's processor string off Linux."""
    import os
    import platform

    name = cpuinfo_field("model name", cpuinfo)
    return f"{name or platform.processor() or platform.machine()} x {os.cpu_count()}"


def gpu_count() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def engine_problem(engine: str, precision: str) -> str | None:
    """Why engine cannot run at precision here (a package missing, a precision it lacks), or None; auto passes."""
    if engine == "onnx":
        if precision not in ("float32", "auto"):
            return (f"engine onnx runs float32 only (ONNX Runtime has no {precision} convolutions on CPUs): use "
                    "precision float32, or engine function or openvino for mixed_bfloat16")
        from tagger.model.convert import onnx_tools_installed

        if not onnx_tools_installed():
            return "engine onnx needs tf2onnx and onnxruntime: pip install -e '.[export]'"
    if engine == "openvino":
        if precision == "mixed_float16":
            return "engine openvino runs on CPUs: use precision float32 or mixed_bfloat16"
        if not openvino_installed():
            return "engine openvino needs OpenVINO: pip install -e '.[openvino]'"
    return None


def check_engine(engine: str, precision: str) -> None:
    """Raises engine_problem's answer as a TaggerError, the one line a user sees."""
    problem = engine_problem(engine, precision)
    if problem:
        raise TaggerError(problem)

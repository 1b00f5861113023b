"""Will fine-tuning fit in memory? An estimate from the model's shapes, before stage 2 or 3 starts.

Training keeps activations from the first trainable layer up for the backward pass, so its memory grows with
the batch and with how deep the backbone is unfrozen; the frozen layers below only pass their outputs on. The
estimate adds the runtime, the weights, a gradient, two Adam moments and temporaries per trainable weight, and
per image a share of the layer outputs above the first trainable layer and a few copies of the largest one,
with constants fitted on measured peaks (benchmarks/finetune_memory.py). train.py compares it with the
machine's available memory and lowers the images per step (accumulating gradients to keep the batch) or
refuses before it starts."""

from dataclasses import dataclass

import numpy as np

from tagger.machine import available_memory

BYTES = 4  # float32 (mixed precision keeps float32 master weights; activations would halve, not counted)
# Fitted on benchmarks/finetune_memory.py's peaks (MobileNetV2 at 224 px, EfficientNetV2-L at 384 px; the last
# 30 layers to the whole backbone; batches 1 to 32) so that the estimate is at or above every measured peak:
RUNTIME_BYTES = 1.0 * 2**30  # TensorFlow and Keras with nothing built
WEIGHT_COPIES = 2  # the weights, and as much again for the graphs built over them (measured on EfficientNetV2-L)
TRAINING_STATE_COPIES = 4  # per trainable weight: its gradient, Adam's two moments, the update's temporaries
KEPT_SHARE = 1.0  # of the layer outputs above the first trainable layer, per image, kept for the backward pass
LARGEST_COPIES = 4  # per image: the largest layer output, as the tensors alive at once around it
USABLE_SHARE = 0.85  # of the available memory: room for the page cache and the validation pass


@dataclass
class MemoryEstimate:
    weights: float  # bytes of every weight
    trainable: float  # bytes of the trainable weights
    kept_per_image: float  # bytes of the layer outputs from the first trainable layer up, for one image
    largest_per_image: float  # bytes of the largest layer output, for one image

    @property
    def fixed(self) -> float:
        return RUNTIME_BYTES + WEIGHT_COPIES * self.weights + TRAINING_STATE_COPIES * self.trainable

    def at_batch(self, batch: int) -> float:
        """Peak bytes at this many images per step."""
        return (self.fixed + KEPT_SHARE * self.kept_per_image * batch
                + LARGEST_COPIES * self.largest_per_image * batch)

    def parts(self) -> dict:
        return {"fixed": round(self.fixed / 2**30, 3), "kept_per_image": round(self.kept_per_image / 2**30, 4),
                "largest_per_image": round(self.largest_per_image / 2**30, 4)}


def layer_output_sizes(backbone) -> list[tuple[int, bool]] | None:
    """(values per image of the layer's output, whether the layer or one after it trains) for each layer in
    order; None when the backbone's outputs are not a list of shaped layers (keras-hub towers)."""
    sizes, first_trainable = [], None
    layers = getattr(backbone, "layers", None)
    if not layers:
        return None
    for index, layer in enumerate(layers):
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            return None
        if not isinstance(shape, tuple) or any(d is None for d in shape[1:]):
            return None
        sizes.append(int(np.prod(shape[1:])))
        if first_trainable is None and layer.trainable and layer.trainable_weights:
            first_trainable = index
    if first_trainable is None:
        first_trainable = len(layers)
    return [(size, index >= first_trainable) for index, size in enumerate(sizes)]


def finetune_memory_estimate(tagger) -> MemoryEstimate | None:
    """What a training step of the tagger as it is now (layers frozen or not) needs; at_batch gives its peak."""
    from tagger.model.network import backbone_of

    sizes = layer_output_sizes(backbone_of(tagger))
    if sizes is None:
        return None
    weights = sum(int(np.prod(w.shape)) for w in tagger.weights) * BYTES
    trainable = sum(int(np.prod(w.shape)) for w in tagger.trainable_weights) * BYTES
    return MemoryEstimate(weights=weights, trainable=trainable,
                          kept_per_image=sum(size for size, trains in sizes if trains) * BYTES,
                          largest_per_image=max((size for size, _ in sizes), default=0) * BYTES)


def images_per_step(estimate: MemoryEstimate, batch: int, limit: float) -> int:
    """The most images per step (a divisor of batch, so that accumulated steps make exactly the batch) whose
    estimate fits the limit; 0 when even one image does not."""
    for step in sorted((d for d in range(1, batch + 1) if batch % d == 0), reverse=True):
        if estimate.at_batch(step) <= limit:
            return step
    return 0


@dataclass
class StepPlan:
    """How a fine-tuning stage takes its batch: images per step, and steps whose gradients make one update."""

    stage: int
    images_per_step: int
    accumulation: int
    estimate_gb: float | None  # peak of a step as planned; None: not estimated (keras-hub tower, GPU)
    limit_gb: float | None

    def record(self) -> dict:
        return {"stage": self.stage, "images_per_step": self.images_per_step, "accumulated_steps": self.accumulation,
                "estimated_peak_gb": self.estimate_gb, "memory_limit_gb": self.limit_gb}


def plan_finetune_memory(tagger, stages: list[tuple[int, int]], batch: int, keep_batchnorm_frozen: bool,
                         limit_gb: float, on_gpu: bool) -> dict[int, StepPlan]:
    """For each (stage number, layers to unfreeze): the images per step that fit, before any training starts.

    limit_gb 0: USABLE_SHARE of the available memory. Raises TaggerError when one image per step would not fit.
    The model's trainable flags are put back as they were (stage 1 trains the head alone)."""
    from tagger.errors import TaggerError
    from tagger.model.network import backbone_of
    from tagger.train.stages import unfreeze_last_layers

    available = available_memory()
    limit = limit_gb * 2**30 if limit_gb else (available * USABLE_SHARE if available else None)
    backbone = backbone_of(tagger)
    plans = {}
    for stage, layers in stages:
        if on_gpu or limit is None:  # GPU memory is not the machine's; an unknown limit is not a reason to stop
            plans[stage] = StepPlan(stage, batch, 1, None, None)
            continue
        flags = [(layer, layer.trainable) for layer in backbone.layers]
        whole = backbone.trainable
        unfreeze_last_layers(backbone, layers, keep_batchnorm_frozen)
        estimate = finetune_memory_estimate(tagger)
        backbone.trainable = whole
        for layer, trainable in flags:
            layer.trainable = trainable
        if estimate is None:
            plans[stage] = StepPlan(stage, batch, 1, None, round(limit / 2**30, 2))
            continue
        step = images_per_step(estimate, batch, limit)
        if step == 0:
            raise TaggerError(
                f"stage {stage} would not fit in memory: one image per step needs about "
                f"{estimate.at_batch(1) / 2**30:.1f} GB and {limit / 2**30:.1f} GB can be used. Unfreeze fewer layers "
                "(--train.finetune.unfreeze_layers), lower --model.image_size, or train on a machine with more memory "
                "(--train.finetune.memory_limit_gb sets the limit)")
        plans[stage] = StepPlan(stage, step, batch // step, round(estimate.at_batch(step) / 2**30, 2),
                                round(limit / 2**30, 2))
    return plans

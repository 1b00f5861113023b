"""train.py: stage 1 (head on cached frozen features), then optional stage 2 (last layers) and stage 3 (all).

Every stage is one fit with a checkpoint after each epoch, keeps the weights of its best
validation mAP, stops early when mAP stops improving, and resumes after a kill where it stopped.
"""

import logging
import time
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.images import image_dataset
from tagger.result import StepResult
from tagger.settings import Settings
from tagger.train.augment import training_image_epochs
from tagger.train.baseline import logistic_regression_baseline
from tagger.train.checkpoints import StageCheckpoint, StageFloor
from tagger.train.data import TrainingData
from tagger.train.features import (
    cached_feature_epochs,
    head_batch_size,
    stage1_features,
    unit_length_scale,
)
from tagger.train.fidelity import reduced_precision_check
from tagger.train.hardware import configure_hardware
from tagger.train.metrics import mean_average_precision
from tagger.train.stages import (
    global_batch_size,
    run_stage,
    start_at_tag_frequencies,
    unfreeze_last_layers,
)

log = logging.getLogger(__name__)


def train(settings: Settings) -> StepResult:
    """Trains the tagger on the run folder's manifest; writes model.keras, thresholds, metrics and the report."""
    import keras

    from tagger.model.network import build_tagger
    from tagger.train.evaluation import evaluate_and_report

    from tagger.model.inference import use_threads

    run_dir = settings.paths.run_dir
    data = TrainingData.read(run_dir)
    use_threads(settings.embed.threads)
    hardware = configure_hardware(settings.train.hardware)
    log.info(hardware.describe())
    with hardware.strategy.scope():
        keras.utils.set_random_seed(settings.train.seed)
        tagger = build_tagger(settings.model, len(data.vocabulary))
    # Before stage 1: a fine-tuning stage that cannot fit stops the run now, not hours into it.
    step_plans = finetune_step_plans(tagger, data, settings, hardware)
    features = stage1_features(tagger, data.manifest, settings, hardware.precision)
    fingerprint = {"vocabulary": data.vocabulary,
                   "images": runfolder.feature_cache_key(settings.model, data.manifest)["images"],
                   "model": settings.model.model_dump(mode="json"), "train": settings.train.model_dump(mode="json")}

    history, stage1 = train_head(tagger, features, data, settings, hardware, fingerprint)
    range_tests: dict = {}
    finetuned = finetune(tagger, data, settings, hardware, fingerprint, history, step_plans, range_tests)
    validation_scores = predict_validation(tagger, features, data, settings, finetuned)
    metrics, thresholds = evaluate_and_report(run_dir, data.vocabulary, data.labels[data.train_rows],
                                              data.labels[data.validation_rows], validation_scores, history,
                                              settings.train.thresholds, stage1)
    fidelity = check_fidelity(tagger, features, data, settings, thresholds, finetuned, hardware)
    outputs = save_outputs(run_dir, settings, tagger, thresholds, metrics, finetuned, hardware, fidelity, step_plans,
                           range_tests)
    overall = metrics["at_tag_thresholds"]
    log.info(f"validation: mAP {metrics['mAP']:.4f}, micro F1 {overall['OF1']:.4f}, macro F1 {overall['CF1']:.4f} "
          f"({metrics['validation_images']} images, {metrics['tags_in_validation']} tags present)")
    log.info(f"wrote {run_dir / runfolder.MODEL}, {runfolder.THRESHOLDS}, {runfolder.METRICS}, {runfolder.REPORT}")
    return StepResult(outputs, metrics)


def train_head(tagger, features: np.ndarray, data: TrainingData, settings: Settings, hardware,
               fingerprint: dict) -> tuple[dict, dict]:
    """Stage 1: the tag layer on cached features, like a logistic regression; returns (history, stage-1 summary)."""
    from tagger.model.network import fold_feature_scale, head_model

    options, head_options = settings.train, settings.train.head
    rows, validation_rows = data.train_rows, data.validation_rows
    feature_scale = unit_length_scale(features[rows])
    with hardware.strategy.scope():
        head = head_model(tagger, feature_scale)
    start_at_tag_frequencies(tagger, data.labels[rows])
    batch = global_batch_size(head_batch_size(head_options.batch_size, len(rows)), hardware.replicas, len(rows))

    def validation_map():
        return mean_average_precision(data.labels[validation_rows], head.predict(features[validation_rows], verbose=0))

    # The yardstick first: its solution is the head's start, so the head ends no worse than it.
    yardstick = logistic_regression_baseline(features, data.labels, rows, validation_rows, head_options.baseline,
                                             head_options.warm_start)
    start_map, start = None, None
    if yardstick is not None and head_options.warm_start and yardstick.fitted:
        start_from_solution(tagger, yardstick, feature_scale)
        start_map = validation_map()
        # The yardstick's mAP as the head's epochs are scored (float32, through the head): the same solution, but
        # ties among near-equal scores (features of a random backbone) can fall another way in float64.
        yardstick.record["mAP"] = start_map
        start = {"from": "the logistic-regression yardstick's solution",
                 "tags": len(yardstick.fitted), "validation_mAP": start_map}
        log.info(f"stage 1 starts from the yardstick's solution ({len(yardstick.fitted)} tags): "
                 f"validation mAP {start_map:.4f}")
    log.info(f"stage 1: head on cached features, up to {head_options.epochs} epochs")
    began = time.perf_counter()
    # SGD's loss is summed over tags (a mean would shrink every step as the vocabulary grows).
    learning_rate = head_options.learning_rate * (len(data.vocabulary) if head_options.optimizer == "sgd" else 1)
    history = {"head": run_stage(StageCheckpoint(settings.paths.run_dir, "head", fingerprint), head, hardware,
                                 learning_rate, -(-len(rows) // batch), head_options.epochs, options,
                                 cached_feature_epochs(features, data.labels, rows, batch, options.seed),
                                 validation_map, stage_number=1, optimizer_name=head_options.optimizer,
                                 start_map=start_map)}
    fold_feature_scale(tagger, feature_scale)
    best_epoch, head_map = 0, start_map if start_map is not None else -1.0
    for entry in history["head"]:  # the first best, as run_stage keeps it
        if entry["validation_mAP"] > head_map:
            best_epoch, head_map = entry["epoch"], entry["validation_mAP"]
    stage1 = {"head_mAP": head_map, "head_best_epoch": best_epoch, "head_start": start,
              "head_seconds": round(time.perf_counter() - began, 2),
              "logistic_regression": yardstick.record if yardstick is not None else None}
    return history, stage1


def start_from_solution(tagger, yardstick, feature_scale: float) -> None:
    """The tag layer starts at the yardstick's weights for the tags it fitted (the others keep their start:
    zero weights, the bias at the tag's log-odds). The head sees features x feature_scale, hence the division.
    The cosine tag layer takes the solution's directions only: its bias goes with the cosine, not x . w."""
    from tagger.model.layers import CosineTags
    from tagger.model.network import TAGS_LAYER

    layer = tagger.get_layer(TAGS_LAYER)
    kernel, bias = np.array(layer.kernel), np.array(layer.bias)
    kernel[:, yardstick.fitted] = yardstick.kernel[:, yardstick.fitted] / feature_scale
    if not isinstance(layer, CosineTags):
        bias[yardstick.fitted] = yardstick.bias[yardstick.fitted]
    layer.kernel.assign(kernel.astype(np.float32))
    layer.bias.assign(bias.astype(np.float32))


def finetune_stages(settings: Settings) -> list[tuple[int, str, int, int, float]]:
    """(stage number, checkpoint name, layers to unfreeze, epochs, peak learning rate) of each stage that runs."""
    stages = settings.train.finetune
    whole_backbone = 10**9 if stages.full_epochs else 0
    return [stage for stage in [
        (2, "finetune", stages.unfreeze_layers, stages.epochs, stages.learning_rate),
        (3, "full", whole_backbone, stages.full_epochs, stages.full_learning_rate),
    ] if stage[2] > 0]


def finetune_step_plans(tagger, data: TrainingData, settings: Settings, hardware) -> dict:
    """Images per step of each fine-tuning stage, within memory (tagger.train.memory); logged when lowered."""
    from tagger.train.memory import plan_finetune_memory

    stages = finetune_stages(settings)
    if not stages:
        return {}
    batch = global_batch_size(settings.train.finetune.batch_size, hardware.replicas, len(data.train_rows))
    plans = plan_finetune_memory(tagger, [(number, layers) for number, _, layers, _, _ in stages], batch,
                                 keep_batchnorm_frozen=settings.model.weights.lower() != "none",
                                 limit_gb=settings.train.finetune.memory_limit_gb, on_gpu=hardware.gpus > 0)
    for plan in plans.values():
        if plan.accumulation > 1:
            log.info(f"stage {plan.stage}: a batch of {batch} would not fit in {plan.limit_gb:.1f} GB; "
                     f"{plan.accumulation} steps of {plan.images_per_step} images make each update "
                     f"(about {plan.estimate_gb:.1f} GB)")
    return plans


def finetune(tagger, data: TrainingData, settings: Settings, hardware, fingerprint: dict, history: dict,
             step_plans: dict | None = None, range_tests: dict | None = None) -> bool:
    """Stages 2 (the last backbone layers) and 3 (all of them) from images, when asked for; True if either ran.
    range_tests: filled with the learning-rate range test of a stage whose rate is auto, by stage number."""
    from tagger.model.hub import transformer_blocks
    from tagger.model.network import backbone_of

    options, stages = settings.train, settings.train.finetune
    if stages.unfreeze_layers == 0 and stages.full_epochs == 0:
        return False
    rows, size = data.train_rows, settings.model.image_size
    pretrained = settings.model.weights.lower() != "none"

    def validation_map():
        scores = tagger.predict(image_dataset(data.paths(data.validation_rows), size, stages.batch_size), verbose=0)
        return mean_average_precision(data.labels[data.validation_rows], scores)

    floor = None if pretrained else StageFloor(settings.paths.run_dir, fingerprint)
    stage_one_map = None
    if floor is not None:
        # A head fitted to random filters' features (and scaled to their size, often 1e-12) carries nothing
        # into training those filters: the tag layer starts stage 2 afresh. Stage 1's model stays the one to beat
        # (the stages' own epoch 0 is the restart, whose mAP is far below it).
        stage_one_map = floor.load()
        if stage_one_map is None:
            stage_one_map = validation_map()
            floor.save(tagger, stage_one_map)
        start_at_tag_frequencies(tagger, data.labels[rows], zero_kernel=True)
    batch = global_batch_size(stages.batch_size, hardware.replicas, len(rows))

    image_epoch = training_image_epochs(data.paths(rows), data.labels[rows], size, batch, options.seed, options.augment)

    for position, (stage_number, name, layer_count, epochs, learning_rate) in enumerate(finetune_stages(settings)):
        plan = (step_plans or {}).get(stage_number)
        step_images = plan.images_per_step if plan else batch
        accumulation = plan.accumulation if plan else 1
        epoch_batches = image_epoch if step_images == batch else training_image_epochs(
            data.paths(rows), data.labels[rows], size, step_images, options.seed, options.augment)
        with hardware.strategy.scope():
            unfrozen = unfreeze_last_layers(backbone_of(tagger), layer_count, keep_batchnorm_frozen=pretrained)
        unit = "transformer blocks" if transformer_blocks(backbone_of(tagger)) is not None else "layers"
        log.info(f"stage {stage_number}: fine-tuning the last {unfrozen} backbone {unit}, up to {epochs} epochs")
        checkpoint = StageCheckpoint(settings.paths.run_dir, name, fingerprint)
        if learning_rate == "auto":
            test = chosen_learning_rate(tagger, settings, hardware, name, fingerprint, epoch_batches, accumulation,
                                        step_images)
            learning_rate = test.chosen
            if range_tests is not None:
                range_tests[stage_number] = test.record()
        # The model as the stage gets it counts as its epoch 0: fine-tuning a backbone on a few hundred images
        # can lose what stage 1 had (coco128: 0.466 -> 0.405 at learning rate 1e-3), and then it is kept.
        # Measured once, when the stage begins (a resumed stage has it in its checkpoint).
        start_map = validation_map() if checkpoint.load() is None else None
        if start_map is not None and floor is not None and position == 0:  # the first stage: the restarted layer
            # Said so: right after stage 1's best, a lower start reads as a step back.
            log.info(f"  starting from validation mAP {start_map:.4f}: the tag layer restarted (stage 1 fitted it to "
                     f"random filters); stage 1's {stage_one_map:.4f} stays the one to beat")
        elif start_map is not None:
            log.info(f"  starting from validation mAP {start_map:.4f}")
        history[name] = run_stage(checkpoint, tagger, hardware, learning_rate, -(-len(rows) // step_images), epochs,
                                  options, epoch_batches, validation_map, stage_number=stage_number,
                                  scaled_variables=backbone_of(tagger).trainable_variables,
                                  backbone_scale=stages.backbone_learning_rate_scale, start_map=start_map,
                                  accumulation=accumulation)
    if floor is not None:  # the last stage's best: each stage starts from the best of the one before it
        last_stage = finetune_stages(settings)[-1][1]
        reached = StageCheckpoint(settings.paths.run_dir, last_stage, fingerprint).load().best_map
        stage_one = floor.load()
        if reached < stage_one:
            floor.restore(tagger)
            log.info(f"  kept stage 1's model (validation mAP {stage_one:.4f}): fine-tuning from the restarted tag "
                     f"layer reached {reached:.4f}")
    return True


def chosen_learning_rate(tagger, settings: Settings, hardware, name: str, fingerprint: dict, epoch_batches,
                         accumulation: int, step_images: int):
    """The stage's peak learning rate from a range test (tagger.train.learning_rate_range), run once: a resumed
    run reads the first run's result."""
    from tagger.model.network import backbone_of
    from tagger.train.learning_rate_range import RANGE_EPOCH, RangeTestRecord, range_test

    saved = RangeTestRecord(settings.paths.run_dir, name, fingerprint)
    test = saved.load()
    if test is None:
        stages = settings.train.finetune
        batches = epoch_batches(RANGE_EPOCH).repeat()
        test = range_test(tagger, batches, accumulation, step_images, hardware, settings.train,
                          backbone_of(tagger).trainable_variables, stages.backbone_learning_rate_scale)
        saved.save(test)
    log.info(f"  learning rate {test.chosen:.2g}, from a range test of {len(test.losses)} updates of "
             f"{test.images_per_update} images: the training loss was lowest at {test.lowest_at:.2g} ({test.seconds:.0f} s)")
    return test


def predict_validation(tagger, features: np.ndarray, data: TrainingData, settings: Settings,
                       finetuned: bool) -> np.ndarray:
    """The final model's scores on the validation images: from images after fine-tuning, else from the cache."""
    from tagger.model.network import head_model

    if finetuned:
        return tagger.predict(image_dataset(data.paths(data.validation_rows), settings.model.image_size,
                                            settings.train.finetune.batch_size), verbose=0)
    return head_model(tagger).predict(features[data.validation_rows], verbose=0)


def check_fidelity(tagger, features: np.ndarray, data: TrainingData, settings: Settings, thresholds: dict,
                   finetuned: bool, hardware) -> dict | None:
    """The trained model at reduced precision against float32 on validation images (tagger.train.fidelity)."""
    count = settings.train.hardware.fidelity_images
    if count == 0:
        log.info("reduced-precision check skipped (--train.hardware.fidelity_images 0): inference stays float32")
        return None
    rows = data.validation_rows[:count]
    # The stage-1 cache holds these images' float32 embeddings unless the backbone changed since.
    cached = None if finetuned or hardware.precision != "float32" else np.asarray(features[rows])
    per_tag = np.array([thresholds["tags"][name] for name in data.vocabulary], np.float64)
    return reduced_precision_check(tagger, data.paths(rows), per_tag, settings.model.image_size,
                                   settings.embed.batch_size, cached)


def save_outputs(run_dir: Path, settings, tagger, thresholds, metrics, finetuned, hardware, fidelity,
                 step_plans: dict | None = None, range_tests: dict | None = None) -> list[Path]:
    from tagger.model.network import tag_layer_weights

    vocabulary = list(thresholds["tags"])  # the tags in output order
    with runfolder.atomic_path(run_dir / runfolder.MODEL, ".keras") as temporary:
        tagger.save(temporary)
        runfolder.add_model_tags(temporary, vocabulary)
    runfolder.write_selected_tags(run_dir, *runfolder.read_vocabulary_counts(run_dir))
    # The tag layer alone, as numpy: cluster_tags.py compares tags as the model sees them without TensorFlow.
    runfolder.write_head(run_dir, *tag_layer_weights(tagger), vocabulary)
    runfolder.write_json(run_dir / runfolder.THRESHOLDS, thresholds)
    runfolder.write_json(run_dir / runfolder.METRICS, metrics)
    runfolder.write_json(run_dir / runfolder.TRAINING_RECORD, {
        "backbone_finetuned": finetuned,
        "precision": hardware.precision,
        "replicas": hardware.replicas,
        "gpus": hardware.gpus,
        "feature_cache_key": runfolder.read_json(run_dir / runfolder.FEATURE_CACHE_KEY, "train.py"),
        "vocabulary_size": len(thresholds["tags"]),
        # --embed.precision auto reads it (tagger.model.choice); absent: never checked, float32.
        "fidelity": fidelity or {},
        # Images per step of stages 2 and 3 as planned within memory (tagger.train.memory).
        "finetune_steps": [plan.record() for plan in (step_plans or {}).values()],
        # --train.finetune.learning_rate auto: the range test behind each stage's rate (tagger.train.learning_rate_range).
        "learning_rate_range_tests": [{"stage": stage, **test} for stage, test in (range_tests or {}).items()],
    })
    runfolder.write_settings(run_dir, "train", settings)
    return [run_dir / name for name in (runfolder.MODEL, runfolder.SELECTED_TAGS, runfolder.HEAD, runfolder.THRESHOLDS, runfolder.METRICS,
                                        runfolder.REPORT, runfolder.TRAINING_RECORD)]

"""embed.py and tag.py with no engine or precision flags against the naive loop, whole processes, one run.

On coco128's JPEGs with the real MobileNetV2 ImageNet weights (efficientnetv2-l with --backbone where the machine
has the time): prepares and trains a run (one fine-tuned layer, so embed.py runs the network instead of copying the
stage-1 cache), prints train.py's reduced-precision check and its cost, then times as separate processes, start-up
included, with each one's peak resident memory:

  naive embed   PIL decode + resize in a Python loop, model.predict per batch of 32, float32
  embed.py      no flags (auto engine and precision), --embed.precision float32, --embed.engine function
  +1% images    embed.py again after 1% of the images were added to the manifest, relative to the first run; and
                once more with nothing new (start-up alone), so the added images' own cost is set against the first's
                (--parts living: only this, after prepare and train, for a collection where start-up is small)
  naive tag     the same naive loop over the tagger
  tag.py        no flags
  1 vs 2 cores  embed.py under taskset, the scaling

    python benchmarks/auto_engine.py --data ../shared/data/coco128 --weights ../shared/weights/mobilenetv2_imagenet_notop.weights.h5
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tagger, whatever is installed

ROOT = Path(__file__).resolve().parents[1]
MEASURE = ("import resource, subprocess, sys, time; start = time.perf_counter(); result = subprocess.run(sys.argv[1:], "
           "capture_output=True, text=True); seconds = time.perf_counter() - start; sys.stdout.write(result.stdout); "
           "sys.stderr.write(result.stderr); print('MEASURED', result.returncode, seconds, "
           "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def measured(command: list[str], cores: str | None = None) -> tuple[float, float, str]:
    """(seconds, peak GB, stdout) of one whole process; a fresh parent measures only it."""
    prefix = ["taskset", "-c", cores] if cores else []
    result = subprocess.run([*prefix, sys.executable, "-c", MEASURE, sys.executable, *command], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    measured_lines = [line for line in result.stdout.splitlines() if line.startswith("MEASURED")]
    if not measured_lines:
        raise SystemExit(f"could not run {command}:\n{result.stderr[-3000:]}")
    line = measured_lines[-1].split()
    if int(line[1]) != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return float(line[2]), int(line[3]) / 2**20, result.stdout


def naive(run_dir: Path, what: str, paths: list[str], size: int) -> None:
    """The loop a user writes first: PIL per image, model.predict per batch, float32."""
    import numpy as np
    from PIL import Image

    from tagger.model.network import embedding_model, load_tagger

    model = load_tagger(run_dir / "model.keras")
    model = embedding_model(model) if what == "embed" else model
    outputs = []
    for start in range(0, len(paths), 32):
        pixels = np.stack([np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR))
                           for path in paths[start:start + 32]]).astype(np.float32)
        outputs.append(model.predict(pixels, verbose=0))
    print(np.concatenate(outputs).shape)


def clear_embeddings(run_dir: Path) -> None:
    for name in ("embeddings.npy", "embeddings.rows.csv", "embeddings.maker.json", "image_ids.npy"):
        (run_dir / name).unlink(missing_ok=True)


def living_collection(run_dir: Path, images: int) -> None:
    """embed.py over the collection less 1% of its images (at least one), then again over all of it: the second
    run's time relative to the first; and once more with nothing new."""
    manifest = (run_dir / "manifest.csv").read_text().splitlines(keepends=True)
    added = max(1, images // 100)
    clear_embeddings(run_dir)
    (run_dir / "manifest.csv").write_text("".join(manifest[:len(manifest) - added]))
    first, _, _ = measured([str(ROOT / "embed.py"), "--paths.run_dir", str(run_dir)])
    (run_dir / "manifest.csv").write_text("".join(manifest))
    second, _, _ = measured([str(ROOT / "embed.py"), "--paths.run_dir", str(run_dir)])
    print(f"adding {added} images to {images - added}: first embed.py {first:.1f} s, second {second:.1f} s "
          f"({second / first:.1%} of the first, start-up included)")
    # Once more with nothing new: what every run costs whatever it has to do (Python, TensorFlow, the model), so
    # the added images' own cost can be set against the first run's.
    unchanged, _, _ = measured([str(ROOT / "embed.py"), "--paths.run_dir", str(run_dir)])
    share = (second - unchanged) / max(first - unchanged, 1e-9)
    print(f"  with nothing new embed.py takes {unchanged:.1f} s (start-up); beyond it the {added} added images cost "
          f"{second - unchanged:.1f} s, {share:.1%} of the first run's {first - unchanged:.1f} s for {images - added}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/coco128")
    parser.add_argument("--weights", default=str(ROOT.parent / "shared/weights/mobilenetv2_imagenet_notop.weights.h5"))
    parser.add_argument("--backbone", default="mobilenetv2")
    parser.add_argument("--image-size", type=int, default=384)
    parser.add_argument("--parts", choices=["all", "living"], default="all",
                        help="living: only the +1%% images runs, for a collection large enough that start-up is small "
                             "(the naive loops would take hours there)")
    parser.add_argument("--naive", choices=["embed", "tag"], help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.naive:
        import pandas as pd

        paths = pd.read_csv(arguments.run_dir / "manifest.csv", dtype=str)["path"].tolist()
        naive(arguments.run_dir, arguments.naive, paths, arguments.image_size)
        return

    from tagger.model.choice import Machine
    from tagger.model.inference import available_cores

    machine = Machine.this_one()
    print(f"machine: {platform.processor() or platform.machine()}, {available_cores()} cores available, load "
          f"{os.getloadavg()[0]:.1f}; bfloat16 units: {machine.bfloat16_units}; OpenVINO installed: {machine.openvino}; "
          f"GPUs: {machine.gpus}")
    work = Path(tempfile.mkdtemp(prefix="auto-engine-"))
    run_dir = work / "run"
    script = [str(ROOT / "benchmarks" / "auto_engine.py")]
    model = ["--model.backbone", arguments.backbone, "--model.weights", arguments.weights,
             "--model.image_size", str(arguments.image_size)]
    measured([str(ROOT / "prepare.py"), "--paths.run_dir", str(run_dir), "--data.source", str(arguments.data / "tags.csv"),
              "--data.min_tag_occurrences", "3"])
    seconds, peak, output = measured([str(ROOT / "train.py"), "--paths.run_dir", str(run_dir), *model,
                                      "--train.head.epochs", "5", "--train.finetune.unfreeze_layers", "1",
                                      "--train.finetune.epochs", "1"])
    check = [line for line in output.splitlines() if "check on" in line]
    print(f"train.py: {seconds:.1f} s, peak {peak:.2f} GB; {check[0] if check else 'no reduced-precision check'}")
    images = len(Path(run_dir / "manifest.csv").read_text().splitlines()) - 1
    print(f"{images} images at {arguments.image_size} px, {arguments.backbone}; whole processes, start-up included")

    if arguments.parts == "living":
        living_collection(run_dir, images)
        shutil.rmtree(work, ignore_errors=True)
        return

    rows = []
    seconds, peak, _ = measured([*script, "--naive", "embed", "--run-dir", str(run_dir), "--image-size",
                                 str(arguments.image_size)])
    rows.append(("naive embed loop (PIL, predict, float32)", seconds, peak))
    naive_embed = seconds
    # The first run converts the model for OpenVINO when auto chooses it (kept in the run folder, once per model):
    # timed apart, so the runs compared below all find it done, as every run after a user's first does.
    clear_embeddings(run_dir)
    seconds, _, _ = measured([str(ROOT / "embed.py"), "--paths.run_dir", str(run_dir)])
    print(f"embed.py, no flags, first run (with the OpenVINO conversion when auto chooses OpenVINO): {seconds:.1f} s")
    for label, flags in [("embed.py, no flags", []), ("embed.py --embed.precision float32", ["--embed.precision", "float32"]),
                         ("embed.py --embed.engine function", ["--embed.engine", "function"])]:
        clear_embeddings(run_dir)
        seconds, peak, output = measured([str(ROOT / "embed.py"), "--paths.run_dir", str(run_dir), *flags])
        choice = next(line for line in output.splitlines() if line.startswith("inference:"))
        rows.append((label, seconds, peak))
        if not flags:
            print(f"embed.py no flags chose: {choice}")
    for label, seconds, peak in rows:
        print(f"  {label:<42} {seconds:7.1f} s  {images / seconds:6.1f} img/s  {naive_embed / seconds:5.2f}x naive  "
              f"peak {peak:.2f} GB")

    living_collection(run_dir, images)

    seconds, peak, _ = measured([*script, "--naive", "tag", "--run-dir", str(run_dir), "--image-size",
                                 str(arguments.image_size)])
    naive_tag = seconds
    print(f"  {'naive tag loop (PIL, predict, float32)':<42} {seconds:7.1f} s  peak {peak:.2f} GB")
    tag = [str(ROOT / "tag.py"), "--paths.run_dir", str(run_dir), "--tag.inputs", str(arguments.data / "images"),
           "--tag.recursive", "true", "--tag.write_sidecars", "false", "--tag.output", str(work / "scores.json")]
    seconds, _, _ = measured(tag)  # as embed.py's: the tagger's own OpenVINO conversion, once per model
    print(f"  {'tag.py, no flags, first run (conversion)':<42} {seconds:7.1f} s")
    seconds, peak, _ = measured(tag)
    print(f"  {'tag.py, no flags':<42} {seconds:7.1f} s  {naive_tag / seconds:5.2f}x naive  peak {peak:.2f} GB")

    if available_cores() >= 2:
        times = {}
        for cores in ("0", "0,1"):
            clear_embeddings(run_dir)
            times[cores], peak, _ = measured([str(ROOT / "embed.py"), "--paths.run_dir", str(run_dir)], cores=cores)
            print(f"  embed.py on core(s) {cores:<4} {times[cores]:7.1f} s  peak {peak:.2f} GB")
        print(f"  2 cores / 1 core: {times['0'] / times['0,1']:.2f}x faster (start-up included; a loaded machine "
              "shares its cores with others)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

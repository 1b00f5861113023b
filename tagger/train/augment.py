"""Augmentation for the fine-tuning stages, and their per-epoch training datasets.

Every random choice is a stateless function of (seed, epoch, image position), so an epoch's batches
are the same whether the run went straight through or was killed and resumed, and whatever order
tf.data's parallel workers finish in.
"""

import math

import numpy as np

MAX_ROTATION_DEGREES = 10.0
CROP_SCALE = (0.6, 1.0)  # share of the image side kept by the random resized crop


def augment(pixels, seed, size: int, options):
    """One image (uint8, size x size x 3) -> augmented float32 pixels in 0-255."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 6)
    image = tf.cast(pixels, tf.float32)
    if options.flip:
        image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    if options.crop:
        side = tf.random.stateless_uniform([], seeds[1], *CROP_SCALE) * size
        side = tf.cast(tf.maximum(side, 8.0), tf.int32)
        image = tf.image.stateless_random_crop(image, tf.stack([side, side, 3]), seeds[2])
        image = tf.image.resize(image, (size, size))
    if options.rotation:
        angle = tf.random.stateless_uniform([], seeds[3], -1.0, 1.0) * MAX_ROTATION_DEGREES * math.pi / 180
        image = rotate(image, angle, size)
    if options.colour:
        image = tf.image.stateless_random_brightness(image, 0.1 * 255, seeds[4])
        image = tf.image.stateless_random_contrast(image, 0.85, 1.15, seeds[5])
    return tf.clip_by_value(image, 0.0, 255.0)


def rotate(image, angle, size: int):
    """Rotation about the centre; corners filled with the padding white."""
    import tensorflow as tf

    cos, sin = tf.cos(angle), tf.sin(angle)
    centre = (size - 1) / 2.0
    # Maps output coordinates to input coordinates (ImageProjectiveTransform's convention).
    transform = tf.stack([cos, -sin, centre - centre * cos + centre * sin,
                          sin, cos, centre - centre * sin - centre * cos, 0.0, 0.0])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform[None], output_shape=tf.constant([size, size]),
        fill_value=255.0, interpolation="BILINEAR", fill_mode="CONSTANT")[0]


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of an epoch, a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def epoch_order_tensor(count: int, seed: int, epoch):
    """epoch_order for an epoch that may be a tensor: a stage's dataset maps its range of epochs to batches."""
    import tensorflow as tf

    order = tf.numpy_function(lambda epoch: epoch_order(count, seed, int(epoch)), [epoch], tf.int64, stateful=False)
    order.set_shape((count,))
    return order


def training_image_epochs(paths: list[str], labels: np.ndarray, size: int, batch_size: int, seed: int, options):
    """A function epoch (an int or a scalar tensor) -> that epoch's shuffled, augmented (pixels, labels) batches
    from image files. The paths and labels go to TensorFlow once, here: made inside a stage's dataset function
    they would be constants of its graph, which cannot exceed 2 GB (150,000 images x 5,000 tags of labels)."""
    import tensorflow as tf

    from tagger.images import image_dataset

    path_tensor, label_tensor = tf.constant(paths, tf.string), tf.constant(labels, tf.float32)
    positions = tf.range(len(paths), dtype=tf.int64)

    def epoch_batches(epoch):
        order = epoch_order_tensor(len(paths), seed, epoch)
        pixels = image_dataset(tf.gather(path_tensor, order), size, batch_size).unbatch()
        extras = tf.data.Dataset.from_tensor_slices((tf.gather(label_tensor, order), positions))
        if options.any():
            def augmented(image, extra):
                label, position = extra
                return augment(image, tf.stack([tf.cast(seed * 100_003 + epoch, tf.int64), tf.cast(position, tf.int64)]),
                               size, options), label
        else:
            def augmented(image, extra):
                return tf.cast(image, tf.float32), extra[0]
        dataset = tf.data.Dataset.zip((pixels, extras)).map(augmented, num_parallel_calls=tf.data.AUTOTUNE,
                                                              deterministic=True)
        return dataset.batch(batch_size)

    return epoch_batches

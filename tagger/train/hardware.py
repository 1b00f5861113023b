"""Where training runs: CPU threads, GPUs, mixed precision, XLA and multi-device strategy."""

from dataclasses import dataclass


@dataclass
class Hardware:
    strategy: object
    replicas: int
    precision: str
    jit_compile: bool
    gpus: int

    def describe(self) -> str:
        where = f"{self.gpus} GPU(s)" if self.gpus else "CPU"
        return (f"hardware: {where}, {self.replicas} replica(s), precision {self.precision}, "
                f"XLA {'on' if self.jit_compile else 'off'}")


def configure_hardware(options) -> Hardware:
    """Applies the train settings' hardware choices; must run before any model is built."""
    import keras
    import tensorflow as tf

    if options.cpu_devices:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * options.cpu_devices)
    if options.deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    precision = options.precision
    if precision == "auto":
        precision = "mixed_float16" if gpus else "float32"
    keras.mixed_precision.set_global_policy(precision)

    wants_mirrored = options.distribute == "mirrored" or (options.distribute == "auto" and len(gpus) > 1)
    if wants_mirrored:
        devices = [device.name for device in tf.config.list_logical_devices("GPU" if gpus else "CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    else:
        strategy = tf.distribute.get_strategy()
    # XLA pays off on GPUs; on CPUs its compile time rarely comes back within a run.
    return Hardware(strategy=strategy, replicas=strategy.num_replicas_in_sync, precision=precision,
                    jit_compile=bool(gpus), gpus=len(gpus))

"""A run's lifecycle: the LightningModule, its callbacks, checkpoints and resuming."""

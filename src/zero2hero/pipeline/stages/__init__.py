"""The pipeline's stages, one module each, in order: collect, clean, label, stats, split, train_classifier,
train_generator, evaluate, export, package. Each has ``run(ctx: StageContext) -> dict`` (the details recorded in
``stages/<name>.json``); ``python -m zero2hero.pipeline.stage NAME`` calls it."""

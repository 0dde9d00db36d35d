"""Looking back: the read model and the pure views over it."""

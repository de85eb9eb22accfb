"""Live PySpark adapter of `sysgym/SparkJobOrder-v0` (`backend="live"`)."""

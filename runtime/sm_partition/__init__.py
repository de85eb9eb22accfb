"""semi-PD runtime pieces: the live GPU backend, the paper check and model validation."""

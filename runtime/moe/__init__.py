"""Live pieces of the MoE family: the torch backend that runs the experts' real computation."""

"""Export trained SB3 / sb3-contrib policies as self-contained artifacts (ONNX and numpy `.npz`).

The runtimes that execute artifacts without torch live in `sysgym.runtime.policy`.
"""

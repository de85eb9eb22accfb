"""Paper-check tables: each module turns the harness's summary.json files of one family into its results README.

Run from the repository root after the evaluations, e.g. `python -m sysgym.experiments.paper.spark`.
"""

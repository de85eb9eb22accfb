"""Per-algorithm hyperparameter YAML files (`<algo>.yml`), packaged so installed users get them too."""

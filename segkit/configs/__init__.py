"""segkit's Hydra config tree (YAML package data; Hydra reads it as pkg://segkit.configs)."""

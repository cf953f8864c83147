"""Configuration: the TOML file into one typed, frozen `Settings` (settings.py), the generic
TOML-to-dataclass checking (typed.py), `${ENV}` secrets and their masking everywhere text is
written (secrets.py), and database URLs with the drivers we ship (urls.py).

May import: `errors`. Imported by everything else; imports nothing of the run.
"""

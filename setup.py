"""Package layout that pyproject.toml alone cannot say: two data/sample trees installed under import names.

``profiles/`` (data) becomes ``segur_profiles`` and ``samples/reference_dui`` becomes
``segur_reference_dui`` so that a non-editable install carries the catalogue and the reference sandbox.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["conformance", "conformance.*"])
    + ["segur_profiles", "segur_reference_dui"],
    package_dir={"segur_profiles": "profiles", "segur_reference_dui": "samples/reference_dui"},
)

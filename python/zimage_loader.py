"""Imports the module that drives the model: a module name on sys.path (default
`zimage_backend`) or a path to a .py file (tests use python/testing/fake_pipeline.py)."""
import importlib
import importlib.util
import os


def load_module(spec):
    if spec.endswith(".py"):
        path = os.path.abspath(spec)
        name = os.path.splitext(os.path.basename(path))[0]
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)

"""The wheel's build hook: generates the stubs from the checkout's protos into a temporary folder and puts them in
the wheel, so that the source tree is never written to and what the wheel holds is always the protos' current state."""
import importlib.util
import pathlib
import shutil
import tempfile

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _stubs_module(root):
    """clients/python/stubs.py, which make runs too (a hook is loaded from its path, not as part of a package)."""
    spec = importlib.util.spec_from_file_location('ecommerce_client_stubs', pathlib.Path(root) / 'stubs.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        if version == 'editable':  # the checkout's make generates the stubs in place (src/), where an editable runs
            return
        self.folder = tempfile.mkdtemp(prefix='ecommerce-stubs-')
        for generated in _stubs_module(self.root).generate(self.folder):
            build_data['force_include'][str(pathlib.Path(self.folder, generated))] = generated.as_posix()

    def finalize(self, version, build_data, artifact_path):
        if version != 'editable':
            shutil.rmtree(self.folder, ignore_errors=True)

"""Every command says which release it is: `--version` prints the distribution it belongs to and the version the
VERSION file states, and exits 0."""
import subprocess
import sys
import tomllib
from concurrent import futures
from pathlib import Path

import pytest

from tests.conftest import DATABASE_INDEPENDENT

pytestmark = DATABASE_INDEPENDENT  # no database involved: the SQLite pass only

ROOT = Path(__file__).resolve().parents[2]
VERSION = (ROOT / 'VERSION').read_text().strip()
BIN = Path(sys.executable).parent
# Where each distribution's modules live in the checkout, and its pyproject.toml.
DISTRIBUTIONS = {ROOT: ('services', 'storage', 'scripts', 'bench'), ROOT / 'clients' / 'python' / 'src': ('ecommerce',)}


def name_of(project):
    return tomllib.loads((project / 'pyproject.toml').read_text())['project']['name']


def commands():
    """(command as it is typed, the distribution it belongs to): every module run as a program (python -m ...) and
    every console script, of the server and of the client."""
    found = []
    for source, packages in DISTRIBUTIONS.items():
        project = source if source == ROOT else source.parent
        tracked = subprocess.run(['git', 'ls-files', '*.py'], capture_output=True, text=True, check=True, cwd=source)
        modules = [source / name for name in tracked.stdout.split()
                   if name.split('/')[0] in packages
                   and 'baseline' not in name  # the seed's own stack, which the benchmark starts as its yardstick
                   and (name.endswith('/__main__.py') or "if __name__ == '__main__':" in (source / name).read_text())]
        names = {'.'.join(path.relative_to(source).with_suffix('').parts).removesuffix('.__main__') for path in modules}
        scripts = tomllib.loads((project / 'pyproject.toml').read_text())['project'].get('scripts', {})
        found += [([sys.executable, '-m', name], name_of(project)) for name in sorted(names)]
        found += [([str(BIN / name)], name_of(project)) for name in sorted(scripts)]
    return found


def test_every_command_prints_the_release_it_is():
    every = commands()
    assert len(every) >= 13  # the services, the CLI, the developer's tools: a discovery that found none fails
    with futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda each: subprocess.run([*each[0], '--version'], capture_output=True,
                                                            text=True, timeout=60, cwd=ROOT), every))
    wrong = [(command[-1], answer.returncode, answer.stdout, answer.stderr[-300:])
             for (command, distribution), answer in zip(every, answers, strict=True)
             if (answer.returncode, answer.stdout) != (0, f'{distribution} {VERSION}\n')]
    assert not wrong, wrong
    assert {distribution for _command, distribution in every} == {'ecommerce-grpc', 'ecommerce-client'}


@pytest.mark.parametrize('command', ['scripts.kubernetes_envoy_config'])
def test_a_command_that_writes_a_file_writes_nothing_when_asked_its_version(command):
    manifest = ROOT / 'deploy' / 'kubernetes' / 'gateway-config.yaml'
    before = manifest.stat().st_mtime_ns
    subprocess.run([sys.executable, '-m', command, '--version'], check=True, capture_output=True, cwd=ROOT)
    assert manifest.stat().st_mtime_ns == before

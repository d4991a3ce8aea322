"""Every command says which release it is: `--version` prints the version setup.cfg states, and exits 0."""
import configparser
import subprocess
import sys
from concurrent import futures
from pathlib import Path

import pytest

from tests.conftest import DATABASE_INDEPENDENT

pytestmark = DATABASE_INDEPENDENT  # no database involved: the SQLite pass only

ROOT = Path(__file__).resolve().parents[2]
SETUP = configparser.ConfigParser()
SETUP.read(ROOT / 'setup.cfg')
BIN = Path(sys.executable).parent


def commands():
    """Each command as it is typed: every module run as a program (python -m ...) and every console script."""
    tracked = subprocess.run(['git', 'ls-files', '*.py'], capture_output=True, text=True, check=True, cwd=ROOT)
    modules = [ROOT / name for name in tracked.stdout.split()
               if name.split('/')[0] in ('services', 'storage', 'scripts', 'cli', 'bench')
               and 'baseline' not in name  # the seed's own stack, which the benchmark starts as its yardstick
               and (name.endswith('/__main__.py') or "if __name__ == '__main__':" in (ROOT / name).read_text())]
    names = {'.'.join(path.relative_to(ROOT).with_suffix('').parts).removesuffix('.__main__') for path in modules}
    scripts = [line.partition('=')[0].strip() for line in SETUP['options.entry_points']['console_scripts'].splitlines()
               if line.strip()]
    return sorted([sys.executable, '-m', name] for name in names) + sorted([str(BIN / name)] for name in scripts)


def test_every_command_prints_the_release_it_is():
    expected = f'{SETUP["metadata"]["name"]} {SETUP["metadata"]["version"]}\n'
    every = commands()
    assert len(every) >= 14  # the services, the CLI, the developer's tools: a discovery that found none fails
    with futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda command: subprocess.run([*command, '--version'], capture_output=True,
                                                               text=True, timeout=60, cwd=ROOT), every))
    wrong = [(command[-1], answer.returncode, answer.stdout, answer.stderr[-300:])
             for command, answer in zip(every, answers, strict=True)
             if (answer.returncode, answer.stdout) != (0, expected)]
    assert not wrong, wrong


@pytest.mark.parametrize('command', ['scripts.kubernetes_envoy_config'])
def test_a_command_that_writes_a_file_writes_nothing_when_asked_its_version(command):
    manifest = ROOT / 'deploy' / 'kubernetes' / 'gateway-config.yaml'
    before = manifest.stat().st_mtime_ns
    subprocess.run([sys.executable, '-m', command, '--version'], check=True, capture_output=True, cwd=ROOT)
    assert manifest.stat().st_mtime_ns == before

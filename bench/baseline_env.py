"""The baseline's own virtualenv (bench/.venv-baseline), so that Django never enters the product's."""
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REQUIREMENTS = BENCH / 'baseline' / 'requirements.txt'
DEFAULT_VENV = BENCH / '.venv-baseline'


def ensure_baseline_venv(folder=DEFAULT_VENV):
    """Return the python of a virtualenv at `folder` holding requirements.txt, creating or updating it
    first unless it was built from the current requirements.txt (then this takes no time)."""
    folder = Path(folder)
    python = folder / 'bin' / 'python'
    # Written last, so an interrupted install is redone on the next call.
    stamp = folder / '.installed-requirements.txt'
    wanted = REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    _run(sys.executable, '-m', 'venv', folder)
    _run(python, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', REQUIREMENTS)
    stamp.write_text(wanted)
    return python


def _run(*command):
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f'{" ".join(map(str, command))} failed ({done.returncode}):\n{done.stdout}{done.stderr}')

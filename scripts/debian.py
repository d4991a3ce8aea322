"""Debian packages that pip cannot install (h2load for the benchmark, Chromium for the console's browser tests):
installed with apt-get, as CI and `make test` run (as root), when their command is missing."""
import os
import shutil
import subprocess


def ensure_command(command, package):
    """The path of `command`, after `apt-get install package` (and, should that fail, `apt-get update` and another
    try) when it is not on PATH; RuntimeError saying how to install it by hand if that is impossible."""
    found = shutil.which(command)
    if found:
        return found
    env = {**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'}
    install = ['apt-get', 'install', '-y', '-qq', package]
    output = ''
    for commands in ([install], [['apt-get', 'update', '-qq'], install]):
        try:
            for step in commands:
                done = subprocess.run(step, check=False, env=env, capture_output=True, text=True, timeout=600)
                output = done.stdout + done.stderr
                if done.returncode:
                    break
        except (OSError, subprocess.TimeoutExpired) as error:
            output = str(error)
        if shutil.which(command):
            return shutil.which(command)
    raise RuntimeError(f'{command} is not installed and `apt-get install {package}` failed; install it by hand '
                       f'(Debian/Ubuntu: apt-get install {package}):\n{output[-2000:]}')

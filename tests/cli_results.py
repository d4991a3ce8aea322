"""Reading what the `ecommerce` command printed in tests (Typer's CliRunner results)."""


def succeeded(result):
    """The standard output of a command that must have succeeded."""
    assert result.exit_code == 0, result.output
    return result.stdout


def failed_lines(result, exit_status):
    """The lines a failed command printed on stderr, after checking its exit status and that it printed nothing on
    stdout and let no exception out (no traceback)."""
    assert result.exit_code == exit_status, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ''
    assert 'Traceback' not in result.stderr
    return result.stderr.splitlines()


def one_line_error(result, exit_status):
    """The single line a failed command printed on stderr (see failed_lines)."""
    [line] = failed_lines(result, exit_status)
    return line

"""Fixtures of the end-to-end tests: the browser the browser tests drive (Debian's Chromium through Playwright)."""
import pytest
from playwright.sync_api import sync_playwright

from scripts.debian import ensure_command

# Flags that work in a container without a display, GPU or network beyond loopback; Playwright adds --headless.
CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync']


@pytest.fixture(scope='module')
def browser():
    """Debian's Chromium (installed with apt-get when missing), once for the module, in a fresh temporary profile."""
    try:
        chromium = ensure_command('chromium', 'chromium')
    except RuntimeError as error:
        pytest.fail(f'the browser tests need Chromium: {error}', pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()

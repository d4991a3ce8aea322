"""python -m ecommerce.cli: the same as the `ecommerce` command."""
from ecommerce.cli.main import app

app()

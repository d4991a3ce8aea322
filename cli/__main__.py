"""python -m cli: the same as the `ecommerce` command."""
from cli.main import app

app()

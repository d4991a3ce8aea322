"""What every service refuses in the text it stores, whatever the database behind it."""
from services.errors import InvalidArgument


def storable_text(value, field):
    """`value`, unless it holds a NUL character, which PostgreSQL cannot store in text (SQLite can): refused on
    both backends alike, as INVALID_ARGUMENT naming `field`, rather than failing in the database."""
    if '\x00' in value:
        raise InvalidArgument(field, 'must not contain NUL (\\x00) characters')
    return value

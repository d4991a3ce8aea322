"""Ids as requests carry them: every resource's id is a positive 64-bit integer that its service assigned."""
from services.errors import InvalidArgument


def positive_id(value, field, noun):
    """`value` if it can be the id of a `noun` (product, order, cart), else InvalidArgument naming `field`."""
    if value <= 0:
        raise InvalidArgument(field, f'must be a positive {noun} id')
    return value

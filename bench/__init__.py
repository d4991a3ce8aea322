"""The performance benchmark (`make bench`): the system and the Django baseline under the same load, on the same
data."""

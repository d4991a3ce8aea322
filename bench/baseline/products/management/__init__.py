"""Management commands of the baseline's products app."""

"""The benchmark's pieces: its dataset, and the Django baseline it measures the product against."""

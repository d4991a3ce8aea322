"""The seed's Django project (settings, URLs, WSGI), rebuilt as the benchmark's baseline."""

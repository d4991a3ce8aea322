"""Reading Prometheus samples in tests: from this process's registry (servers the test runs in-process), or scraped
from a service's or Envoy's endpoint over HTTP; a sample not there yet reads 0."""
import urllib.request

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families


def in_process(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Scrape:
    """Every sample of one scrape of http://ADDRESS/PATH, read with prometheus-client's own parser."""

    def __init__(self, address, path='/metrics'):
        with urllib.request.urlopen(f'http://{address}{path}', timeout=10) as response:
            text = response.read().decode()
        self.samples = {(sample.name, frozenset(sample.labels.items())): sample.value
                        for family in text_string_to_metric_families(text) for sample in family.samples}

    def value(self, name, **labels):
        return self.samples.get((name, frozenset(labels.items())), 0.0)

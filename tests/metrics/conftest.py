"""Scraping /metrics as Prometheus does, with the scrape token, and reading the samples."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "scrape-token-for-the-tests"


def samples_of(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of an exposition, read by prometheus_client."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def scrape(client, settings):
    """`scrape()`: the samples of /metrics, fetched with the configured scrape token."""
    settings.METRICS_TOKEN = TOKEN

    def fetch() -> dict[tuple[str, tuple], float]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content
        return samples_of(response.content.decode())

    return fetch

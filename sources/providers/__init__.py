"""The paid providers of Pro level jobs, each an httpx adapter that is off until its key is set.

Serper finds LinkedIn profiles and company websites, Netnut reads LinkedIn profile pages through its
proxy, AnyMailFinder finds work emails, ZeroBounce validates them (see `sources.email_validation`).
"""

from dataclasses import dataclass

from sources.providers.anymailfinder import AnymailfinderClient
from sources.providers.http import ProviderPolicy, ProviderUnavailable
from sources.providers.netnut import NetnutClient
from sources.providers.serper import SerperClient

__all__ = ["ProProviders", "ProviderUnavailable", "pro_providers"]


@dataclass
class ProProviders:
    """The finders configured for one stage run of one job; None where a provider has no key."""

    serper: SerperClient | None
    netnut: NetnutClient | None
    anymailfinder: AnymailfinderClient | None

    def _by_source(self) -> dict:
        return {"serper": self.serper, "netnut": self.netnut, "anymailfinder": self.anymailfinder}

    @property
    def configured(self) -> list:
        return [client for client in self._by_source().values() if client is not None]

    def unconfigured(self) -> list[str]:
        return [source for source, client in self._by_source().items() if client is None]

    def calls_made(self) -> dict[str, int]:
        return {client.source: client.http.calls_made for client in self.configured}

    def close(self) -> None:
        for client in self.configured:
            client.http.close()


def pro_providers(*, job_id, deadline: float | None = None) -> ProProviders:
    policy = ProviderPolicy.from_settings(deadline=deadline)
    return ProProviders(serper=SerperClient.from_settings(job_id=job_id, policy=policy),
                        netnut=NetnutClient.from_settings(job_id=job_id, policy=policy),
                        anymailfinder=AnymailfinderClient.from_settings(job_id=job_id, policy=policy))

"""kombu's Redis transport, less a Redis client made for every message it tracks.

With late acknowledgements kombu notes each message it hands out in two Redis
keys (so that a worker that dies has its messages delivered again) and removes
it at the acknowledgement. For each of these it makes a new client, whose
set-up costs more than the commands it sends. A channel here makes one and
keeps it: a client takes a connection from the channel's pool for each
command, so sharing it is what redis-py intends.
"""

from __future__ import annotations

from contextlib import contextmanager

from kombu.transport import redis
from kombu.utils.objects import cached_property


class Channel(redis.Channel):
    @contextmanager
    def conn_or_acquire(self, client=None):
        yield client or self._client

    @cached_property
    def _client(self):
        return self._create_client()


class Transport(redis.Transport):
    Channel = Channel

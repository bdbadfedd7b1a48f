"""DynamoDB Streams → the app's stream handlers, as Lambda's event source mapping does.

In AWS, Lambda polls each table's stream and calls `@app.on_dynamodb_record` handlers
with batches of records, retrying a batch that raised. Locally the emulator keeps the
streams; a `StreamPump` reads every handler's table stream (shard by shard, remembering
where it stopped) and calls the handler with the same event shape. A batch whose handler
raises is offered again on the next poll (the position advances only after success), so
delivery is at least once here as in AWS.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from chalice.app import Chalice, DynamoDBEventConfig

from local.config import REGION
from local.discovery import invoke

log = logging.getLogger("local.streams")

POLL_SECONDS = 0.2
BATCH_SIZE = 100


@dataclass
class StreamSource:
    """One `@app.on_dynamodb_record` handler and the table whose stream it reads."""

    name: str
    table: str
    #: shard id -> iterator to read next (None once a closed shard is read to its end)
    iterators: dict[str, str | None] = field(default_factory=dict)


def table_of(stream_arn: str) -> str:
    """`arn:aws:dynamodb:region:account:table/NAME/stream/LABEL` -> NAME."""
    return stream_arn.split(":table/", 1)[1].split("/", 1)[0]


def stream_sources(app: Chalice) -> list[StreamSource]:
    return [
        StreamSource(src.name, table_of(src.stream_arn))
        for src in app.event_sources
        if isinstance(src, DynamoDBEventConfig)
    ]


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A record as Lambda hands it over (the emulator's plus the source ARN and region)."""
    out = dict(record)
    out.setdefault("eventSource", "aws:dynamodb")
    out.setdefault("eventVersion", "1.1")
    out.setdefault("awsRegion", REGION)
    out["eventSourceARN"] = stream_arn
    return out


def streams_client(endpoint_url: str | None) -> Any:
    """A DynamoDB Streams client for the emulator. Account-based endpoints are off:
    botocore would otherwise send ARN calls to `{account}.streams-ddb...`, a host the
    emulator (and moto in-process) does not answer."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodbstreams",
        region_name=REGION,
        endpoint_url=endpoint_url,
        config=Config(account_id_endpoint_mode="disabled"),
    )


class StreamPump:
    """Reads the streams of the app's stream handlers and calls the handlers."""

    def __init__(self, app: Chalice, dynamodb: Any, streams: Any, start: str = "LATEST") -> None:
        self._app = app
        self._dynamodb = dynamodb
        self._streams = streams
        self._start = start
        self._sources = stream_sources(app)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def prime(self) -> None:
        """Take a position in every shard now (LATEST: only changes from now on)."""
        for source in self._sources:
            self._discover(source, self._start)

    def _stream_arn(self, table: str) -> str | None:
        description = self._dynamodb.describe_table(TableName=table)["Table"]
        arn = description.get("LatestStreamArn")
        return str(arn) if arn else None

    def _discover(self, source: StreamSource, position: str) -> str | None:
        arn = self._stream_arn(source.table)
        if arn is None:
            return None
        shards = self._streams.describe_stream(StreamArn=arn)["StreamDescription"].get("Shards", [])
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in source.iterators:
                iterator = self._streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard_id, ShardIteratorType=position
                )["ShardIterator"]
                source.iterators[shard_id] = iterator
        return arn

    def pump(self) -> int:
        """One pass over every stream: hand each new batch of records to its handler;
        returns how many records were handled. A handler that raises keeps its position."""
        handled = 0
        with self._lock:
            for source in self._sources:
                arn = self._discover(source, "TRIM_HORIZON")  # shards that appeared since: from their start
                if arn is None:
                    continue
                for shard_id, iterator in list(source.iterators.items()):
                    if iterator is None:
                        continue
                    response = self._streams.get_records(ShardIterator=iterator, Limit=BATCH_SIZE)
                    records = response.get("Records", [])
                    if records:
                        event = {"Records": [lambda_record(r, arn) for r in records]}
                        try:
                            invoke(self._app, source.name, event)
                        except Exception:
                            log.exception("stream handler %s failed; its records are offered again", source.name)
                            continue
                        handled += len(records)
                    source.iterators[shard_id] = response.get("NextShardIterator")
        return handled

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="streams", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.pump()
            except Exception as exc:  # emulator going away at shutdown, or a hiccup
                if not self._stop.is_set():
                    log.warning("reading streams failed: %r", exc)
            self._stop.wait(POLL_SECONDS)

    def stop(self, timeout: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

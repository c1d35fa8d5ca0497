"""Where in the port space traffic lands, and when: the counters behind the summary's port-space chart and time span.

:class:`PortActivity` counts flows per service port in buckets of ``BUCKET`` ports per transport (1024 buckets
cover 0-65535) and keeps exact counts for the busiest ports. :class:`TimeSpan` finds the first and last moment
the flows were seen, from whatever time fields the input has (Zeek's ``ts`` and ``duration``, a capture's
``first_seen``/``last_seen``, nfdump's ``ts``/``te``, CSV columns of those names); fields it cannot read as a
time (Zeek's ``XXXXXXXXXX.XXXXXX`` test placeholders, syslog dates without a year) are ignored.
"""

from __future__ import annotations

import datetime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from anyport.traffic.readers import Flow

BUCKET = 64
BUCKETS = 65536 // BUCKET
TOP_PORTS = 20
START_FIELDS = ("ts", "first_seen", "start", "stime", "start_time", "timestamp")
END_FIELDS = ("last_seen", "te", "end", "ltime", "end_time")
# plausible epoch seconds: 1970 .. 2100; larger numbers in the millisecond range are divided by 1000
EPOCH_MAX = 4_102_444_800.0


class Volume:
    """Flows, and bytes and packets where the input has them (None while no flow had any)."""

    __slots__ = ("bytes", "flows", "packets")

    def __init__(self) -> None:
        self.flows = 0
        self.bytes: int | None = None
        self.packets: int | None = None

    def add(self, flow: Flow) -> None:
        self.add_many(1, flow.bytes, flow.packets)

    def add_many(self, flows: int, nbytes: int | None, packets: int | None) -> None:
        """``flows`` flows with ``nbytes`` and ``packets`` between them (None: none of them said)."""
        self.flows += flows
        if nbytes is not None:
            self.bytes = nbytes if self.bytes is None else self.bytes + nbytes
        if packets is not None:
            self.packets = packets if self.packets is None else self.packets + packets

    def as_dict(self, order: tuple[str, ...] = ("flows", "packets", "bytes")) -> dict[str, object]:
        values = {"flows": self.flows, "bytes": self.bytes, "packets": self.packets}
        return {key: values[key] for key in order}


class PortActivity:
    """Flows per (transport, service port), kept exactly (65536 counters per transport at most)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.names: dict[tuple[str, int], str] = {}  # the table gives a port one service: the first is the one

    def add(self, transport: str, port: int, service: str, flows: int = 1) -> None:
        key = (transport, port)
        count = self.counts.get(key)
        if count is None:
            self.counts[key] = flows
            self.names[key] = service
        else:
            self.counts[key] = count + flows

    def as_dict(self) -> dict[str, object]:
        """``bucket_size``, sparse ``buckets`` (transport -> [[bucket, flows], ...]) and the busiest ``top_ports``."""
        per_bucket: dict[str, dict[int, int]] = {}
        distinct: dict[str, int] = {}
        for (transport, port), count in self.counts.items():
            bucket = per_bucket.setdefault(transport, {})
            bucket[port // BUCKET] = bucket.get(port // BUCKET, 0) + count
            distinct[transport] = distinct.get(transport, 0) + 1
        buckets = {t: [[index, per_bucket[t][index]] for index in sorted(per_bucket[t])] for t in sorted(per_bucket)}
        ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0]))[:TOP_PORTS]
        top = [
            {"port": f"{port}/{transport}", "flows": count, "service": self.names[(transport, port)]}
            for (transport, port), count in ranked
        ]
        return {
            "bucket_size": BUCKET,
            "buckets": buckets,
            "top_ports": top,
            "distinct_ports": {t: distinct[t] for t in sorted(distinct)},
        }


def _moment(value: object) -> float | None:
    """Epoch seconds from a number, a numeric string or an ISO date ('2026-11-26 03:30:00', UTC when naive)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)  # also takes "nan" and "inf", refused below
        except ValueError:
            if not text[:1].isdigit():
                return None
            try:
                moment = datetime.datetime.fromisoformat(text)
            except ValueError:
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            return moment.timestamp()
    if number != number or number <= 0:
        return None
    if number > EPOCH_MAX:
        number /= 1000.0  # milliseconds
    return number if number <= EPOCH_MAX else None


class TimeSpan:
    """The earliest start and latest end over the flows that carry a readable time."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.timed = 0

    def add(self, flow: Flow) -> None:
        fields = flow.fields
        start = end = None
        for key in START_FIELDS:
            value = fields.get(key)
            if value is not None and (start := _moment(value)) is not None:
                break
        if start is None:
            return
        for key in END_FIELDS:
            value = fields.get(key)
            if value is not None and (end := _moment(value)) is not None:
                break
        if end is None:
            duration = _duration(fields.get("duration"))
            end = start + duration if duration is not None else start
        self.add_range(start, max(end, start), 1)

    def add_range(self, first: float, last: float, flows: int) -> None:
        """``flows`` timed flows seen between ``first`` and ``last`` (epoch seconds)."""
        self.timed += flows
        if self.first is None or first < self.first:
            self.first = first
        if self.last is None or last > self.last:
            self.last = last

    def as_dict(self) -> dict[str, object] | None:
        """``first``/``last`` (epoch seconds), the same as ISO 8601 UTC, ``seconds`` between and ``flows`` timed."""
        if self.first is None or self.last is None:
            return None
        return {
            "first": round(self.first, 6),
            "last": round(self.last, 6),
            "first_utc": _iso(self.first),
            "last_utc": _iso(self.last),
            "seconds": round(self.last - self.first, 6),
            "flows": self.timed,
        }


def _duration(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 1e9 else None


def _iso(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

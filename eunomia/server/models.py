"""The shapes of the server's HTTP API: request bodies, which refuse unknown keys and
wrong types with a 400 that names the field, and replies, typed all the way down so
that GET /openapi.json documents every field. TaskSummary is the one shape of a task for
every reader: the server, the fleet agent, `ecli client` and the dashboard."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from ..kinds import SessionState, unicode_text

Text = Annotated[StrictStr, AfterValidator(unicode_text)]
"""A string that is valid Unicode (no lone surrogate): what a flag or a name can be."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartBody(_Body):
    """POST /task, as eunomia-bpf's server takes it; `program_ref` instead of
    `program_data_buf` has the server fetch the package (an http(s) URL or an image)."""

    program_data_buf: Optional[StrictStr] = Field(None, min_length=1,
                                                  description="the package, base64")
    program_ref: Optional[StrictStr] = Field(None, min_length=1, max_length=2048,
                                             description="an http(s) URL or an image "
                                             "reference HOST[:PORT]/NAME[:TAG] to fetch "
                                             "the package from (not a server path)")
    program_type: Literal["json", "yaml", "wasm"] = "json"
    program_name: Optional[Text] = Field(None, max_length=256)
    extra_args: list[Text] = Field(default_factory=list, max_length=4096,
                                   description="the program's flags, as for ecli run")
    export_json: StrictBool = False
    replace: Optional[StrictInt] = Field(None, description="a task to stop once this one "
                                                           "is attached (hot update)")
    btf_archive_path: Optional[StrictStr] = Field(None, description="accepted, not used")
    program_signature: Optional[StrictStr] = Field(
        None, max_length=1024, description="base64 signature of the package's bytes "
        "(`ecli sign --key KEY FILE` writes it to FILE.sig), for servers that run only "
        "signed code (--verify-key)")


class TaskRef(_Body):
    id: StrictInt


class LogQuery(_Body):
    id: StrictInt
    log_cursor: StrictInt = Field(0, ge=0, le=1 << 62)
    maximum_count: StrictInt = Field(1000, ge=1, le=100_000)
    wait_ms: StrictInt = Field(0, ge=0, le=30_000, description="wait this long for a "
                                                                "first entry")


class TaskSummary(BaseModel):
    """One task as every reader sees it: the server's routes, the fleet agent's status,
    `ecli client` and the dashboard."""

    id: int
    name: str
    status: SessionState
    log_entries: int = Field(description="entries written to the log so far")
    log_dropped: int = Field(description="old entries pushed out of the bounded log")
    events: int = Field(description="records written to the task's log")
    lost: int = Field(description="records the kernel reported lost (perf buffers full)")
    dropped: int = Field(description="records dropped because the task's queue was full")


class TaskList(BaseModel):
    tasks: list[TaskSummary]


class ProgramInfo(BaseModel):
    name: str
    section: str


class TaskDetail(TaskSummary):
    programs: list[ProgramInfo]
    event_fields: dict[str, list[str]] = Field(description="each event map's fields: the "
                                                           "columns of its events")
    sampled: list[str] = Field(description="maps sampled at intervals (GET .../samples)")
    maps: list[str] = Field(description="maps shown as tables (GET .../maps)")


class Bucket(BaseModel):
    low: int
    high: int
    count: int


class HistogramView(BaseModel):
    key: Any = Field(description="the histogram's key, decoded (absent keys: null)")
    kind: Literal["log2", "linear"]
    unit: str
    total: int
    buckets: list[Bucket]


class Row(BaseModel):
    key: Any = Field(description="decoded from BTF: a number, text, or an object")
    value: Any = Field(description="decoded from BTF; per-CPU maps: one per CPU")


class SampleView(BaseModel):
    map: str
    time: float
    kind: Literal["histograms", "entries"]
    histograms: Optional[list[HistogramView]] = None
    count: Optional[int] = Field(None, description="entries in the reading (kind entries)")
    entries: Optional[list[Row]] = Field(None, description="up to 200 of them")


class Samples(BaseModel):
    samples: list[SampleView] = Field(description="the latest reading of each sampled map")


class MapView(BaseModel):
    name: str
    type: str
    max_entries: Optional[int] = None
    count: Optional[int] = Field(None, description="keys read (at most 10,000)")
    more: Optional[bool] = Field(None, description="more keys than were counted")
    entries: list[Row] = Field(description="up to 200 entries")
    read_at: Optional[float] = None
    error: Optional[str] = Field(None, description="why the map could not be read")


class MapTables(BaseModel):
    maps: list[MapView]


class FleetView(BaseModel):
    """GET /fleet of a server that is no fleet agent (it answers 404); an agent's
    server is given fleet.model.FleetView, typed all the way down."""

    nodes: list[dict]
    status: list[dict]
    desired: list[dict]


class Started(BaseModel):
    id: int
    name: str
    status: SessionState
    replaced: Optional[int] = None


class LogEntry(BaseModel):
    cursor: int
    timestamp: float
    kind: Literal["event", "info", "error"]
    text: str


class LogReply(BaseModel):
    id: int
    status: SessionState
    next_cursor: int
    dropped: int
    log: list[LogEntry]


class Health(BaseModel):
    status: Literal["ok"]

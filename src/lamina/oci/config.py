"""Image configuration (OCI image spec config.md, with Docker's extensions)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.oci.jsonio import JSONObject, dump, load_object, string_list, string_map, want

_C = ErrorCode.MANIFEST_INVALID
_CONFIG_KNOWN = frozenset(
    {
        "User",
        "ExposedPorts",
        "Env",
        "Entrypoint",
        "Cmd",
        "Volumes",
        "WorkingDir",
        "Labels",
        "StopSignal",
        "ArgsEscaped",
        "Healthcheck",
        "OnBuild",
        "Shell",
    }
)
_IMAGE_KNOWN = frozenset(
    {
        "created",
        "author",
        "architecture",
        "os",
        "os.version",
        "os.features",
        "variant",
        "config",
        "rootfs",
        "history",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Healthcheck:
    """Docker's healthcheck; durations in nanoseconds as the JSON has them."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    @staticmethod
    def from_json(obj: JSONObject, what: str) -> Healthcheck:
        def num(key: str) -> int:
            return int(want(obj, key, int, what, _C, required=False) or 0)

        return Healthcheck(
            test=string_list(obj, "Test", what, _C) or (),
            interval=num("Interval"),
            timeout=num("Timeout"),
            start_period=num("StartPeriod"),
            start_interval=num("StartInterval"),
            retries=num("Retries"),
        )

    def to_json(self) -> JSONObject:
        out: JSONObject = {}
        if self.test:
            out["Test"] = list(self.test)
        for key, value in (
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
            ("Retries", self.retries),
        ):
            if value:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerConfig:
    """The `config` member: how to run a container from the image."""

    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: dict[str, str] | None = None
    stop_signal: str = ""
    args_escaped: bool = False
    healthcheck: Healthcheck | None = None
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def from_json(obj: JSONObject, what: str) -> ContainerConfig:
        ports = want(obj, "ExposedPorts", dict, what, _C, required=False) or {}
        volumes = want(obj, "Volumes", dict, what, _C, required=False) or {}
        hc = want(obj, "Healthcheck", dict, what, _C, required=False)
        return ContainerConfig(
            user=want(obj, "User", str, what, _C, required=False) or "",
            exposed_ports=tuple(ports),
            env=string_list(obj, "Env", what, _C) or (),
            entrypoint=string_list(obj, "Entrypoint", what, _C),
            cmd=string_list(obj, "Cmd", what, _C),
            volumes=tuple(volumes),
            working_dir=want(obj, "WorkingDir", str, what, _C, required=False) or "",
            labels=string_map(obj, "Labels", what, _C),
            stop_signal=want(obj, "StopSignal", str, what, _C, required=False) or "",
            args_escaped=bool(want(obj, "ArgsEscaped", bool, what, _C, required=False)),
            healthcheck=Healthcheck.from_json(hc, f"{what}.Healthcheck") if hc else None,
            on_build=string_list(obj, "OnBuild", what, _C) or (),
            shell=string_list(obj, "Shell", what, _C) or (),
            extra={k: v for k, v in obj.items() if k not in _CONFIG_KNOWN},
        )

    def to_json(self) -> JSONObject:
        out: JSONObject = {}
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(self.labels)
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.args_escaped:
            out["ArgsEscaped"] = True
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck.to_json()
        if self.on_build:
            out["OnBuild"] = list(self.on_build)
        if self.shell:
            out["Shell"] = list(self.shell)
        out.update(self.extra)
        return out

    def env_dict(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class History:
    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def from_json(obj: Any, what: str) -> History:
        if not isinstance(obj, dict):
            raise InvalidInput(f"{what}: history entry must be an object", code=_C)
        return History(
            created=want(obj, "created", str, what, _C, required=False),
            created_by=want(obj, "created_by", str, what, _C, required=False),
            author=want(obj, "author", str, what, _C, required=False),
            comment=want(obj, "comment", str, what, _C, required=False),
            empty_layer=bool(want(obj, "empty_layer", bool, what, _C, required=False)),
            extra={
                k: v
                for k, v in obj.items()
                if k not in ("created", "created_by", "author", "comment", "empty_layer")
            },
        )

    def to_json(self) -> JSONObject:
        out: JSONObject = {}
        if self.created is not None:
            out["created"] = self.created
        if self.created_by is not None:
            out["created_by"] = self.created_by
        if self.author is not None:
            out["author"] = self.author
        if self.comment is not None:
            out["comment"] = self.comment
        if self.empty_layer:
            out["empty_layer"] = True
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class RootFS:
    type: str = "layers"
    diff_ids: tuple[Digest, ...] = ()

    def to_json(self) -> JSONObject:
        return {"type": self.type, "diff_ids": [str(d) for d in self.diff_ids]}


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageConfig:
    """An image configuration blob. `raw` is authoritative; `digest` is of `raw`."""

    architecture: str
    os: str
    created: str | None = None
    author: str | None = None
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    config: ContainerConfig = field(default_factory=ContainerConfig)
    config_present: bool = True
    rootfs: RootFS = field(default_factory=RootFS)
    history: tuple[History, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""

    @staticmethod
    def parse(raw: bytes, what: str = "image config") -> ImageConfig:
        obj = load_object(raw, what, _C)
        rootfs_obj = want(obj, "rootfs", dict, what, _C)
        rootfs_type = want(rootfs_obj, "type", str, f"{what}: rootfs", _C)
        if rootfs_type != "layers":
            raise InvalidInput(
                f"{what}: rootfs.type must be 'layers', got {rootfs_type!r}", code=_C
            )
        diff_ids: list[Digest] = []
        for i, d in enumerate(want(rootfs_obj, "diff_ids", list, f"{what}: rootfs", _C)):
            if not isinstance(d, str):
                raise InvalidInput(f"{what}: rootfs.diff_ids[{i}] must be a string", code=_C)
            try:
                diff_ids.append(Digest.parse(d))
            except InvalidInput as exc:
                raise InvalidInput(f"{what}: rootfs.diff_ids[{i}]: {exc}", code=_C) from None
        config_obj = want(obj, "config", dict, what, _C, required=False)
        return ImageConfig(
            architecture=want(obj, "architecture", str, what, _C),
            os=want(obj, "os", str, what, _C),
            created=want(obj, "created", str, what, _C, required=False),
            author=want(obj, "author", str, what, _C, required=False),
            variant=want(obj, "variant", str, what, _C, required=False) or "",
            os_version=want(obj, "os.version", str, what, _C, required=False) or "",
            os_features=string_list(obj, "os.features", what, _C) or (),
            config=ContainerConfig.from_json(config_obj or {}, f"{what}: config"),
            config_present=config_obj is not None,
            rootfs=RootFS(diff_ids=tuple(diff_ids)),
            history=tuple(
                History.from_json(h, f"{what}: history[{i}]")
                for i, h in enumerate(want(obj, "history", list, what, _C, required=False) or [])
            ),
            extra={k: v for k, v in obj.items() if k not in _IMAGE_KNOWN},
            raw=raw,
        )

    def to_json(self) -> JSONObject:
        out: JSONObject = {}
        if self.created is not None:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        out["architecture"] = self.architecture
        if self.variant:
            out["variant"] = self.variant
        out["os"] = self.os
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        cfg = self.config.to_json()
        if cfg or self.config_present:
            out["config"] = cfg
        out["rootfs"] = self.rootfs.to_json()
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        out.update(self.extra)
        return out

    def reserialised(self) -> ImageConfig:
        return replace(self, raw=dump(self.to_json()))

    def evolve(self, **changes: Any) -> ImageConfig:
        """A copy with `changes` applied and `raw` rebuilt."""
        return replace(self, **changes).reserialised()

    @property
    def digest(self) -> Digest:
        return Digest.of_bytes(self.raw)

    @property
    def non_empty_history(self) -> tuple[History, ...]:
        return tuple(h for h in self.history if not h.empty_layer)

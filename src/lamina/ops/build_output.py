"""`lamina build -o/--output`: where a built image's result goes besides the store, as
podman and buildah spell it: `type=local,dest=DIR` (or a bare DIR) for the image's
flattened filesystem, `type=tar,dest=FILE` for the same as a tar, `type=oci,dest=FILE`
for the image as an OCI archive."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lamina.content.layers import apply_layer
from lamina.errors import InvalidInput, cannot_write
from lamina.store import Store

TYPES = ("local", "tar", "oci")


@dataclass(frozen=True, slots=True)
class Output:
    type: str  # local | tar | oci
    dest: Path


def parse_output(spec: str) -> Output:
    """`type=T,dest=D` (or a bare path: type=local); InvalidInput naming the spec."""
    hint = "e.g. -o type=local,dest=out, -o type=tar,dest=rootfs.tar or -o type=oci,dest=img.tar"
    if "=" not in spec:
        if not spec:
            raise InvalidInput("--output: empty", hint=hint)
        return Output("local", Path(spec))
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, eq, value = part.partition("=")
        if not eq or key not in ("type", "dest"):
            raise InvalidInput(f"--output {spec!r}: unknown field {part!r}", hint=hint)
        fields[key] = value
    kind = fields.get("type", "local")
    if kind not in TYPES:
        raise InvalidInput(f"--output {spec!r}: type must be one of {', '.join(TYPES)}", hint=hint)
    if not fields.get("dest"):
        raise InvalidInput(f"--output {spec!r}: dest= is missing", hint=hint)
    if fields["dest"] == "-":
        raise InvalidInput(f"--output {spec!r}: writing to stdout is not supported", hint=hint)
    return Output(kind, Path(fields["dest"]))


def write_output(store: Store, image_id: str, output: Output) -> None:
    """Write image `image_id` of `store` where `output` says."""
    from lamina.ops.archive import export_image

    if output.type == "tar":
        export_image(store, image_id, output.dest)
        return
    if output.type == "oci":
        from lamina.ops.copying import copy

        copy(f"lamina:{image_id}", f"oci-archive:{output.dest}", store)
        return
    dest = output.dest
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(dest, exc) from None
    img = store.image(store.get(image_id))
    for layer in img.layers():
        with layer.open() as stream:
            apply_layer(stream, dest, what=f"layer {layer.descriptor.digest}")
            while stream.read(1 << 20):  # reach EOF so the blob digest is verified
                pass

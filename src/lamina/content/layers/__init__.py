"""The layer engine: pack a directory or a tar into a stored layer in one streaming pass,
and apply a layer to a root directory without ever writing outside it."""

from lamina.content.layers.apply import ApplyStats, apply_layer
from lamina.content.layers.layer import Change, ChangeKind, LayerBlob
from lamina.content.layers.limits import DEFAULT_MAX_RATIO, DEFAULT_SLACK
from lamina.content.layers.pack import pack_dir
from lamina.content.layers.tarstream import LayerSink, diff_id_of, pack_tar_stream
from lamina.content.layers.whiteouts import OPAQUE, WHITEOUT_PREFIX

__all__ = [
    "DEFAULT_MAX_RATIO",
    "DEFAULT_SLACK",
    "OPAQUE",
    "WHITEOUT_PREFIX",
    "ApplyStats",
    "Change",
    "ChangeKind",
    "LayerBlob",
    "LayerSink",
    "apply_layer",
    "diff_id_of",
    "pack_dir",
    "pack_tar_stream",
]

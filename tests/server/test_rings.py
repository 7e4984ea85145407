"""lamina.server imports only oci, content and ring 0 (the pyproject contract checks the
packages' submodules; this also checks the packages themselves, which may not exist yet)."""

from __future__ import annotations

import grimp

FORBIDDEN = ("image", "transports", "store", "copy", "trust", "building", "ops", "cli")


def test_server_imports_no_higher_ring() -> None:
    graph = grimp.build_graph("lamina")
    server = {m for m in graph.modules if m == "lamina.server" or m.startswith("lamina.server.")}
    assert server, "lamina.server is missing from the import graph"
    for module in server:
        for imported in graph.find_modules_directly_imported_by(module):
            parts = imported.split(".")
            assert not (len(parts) > 1 and parts[0] == "lamina" and parts[1] in FORBIDDEN), (
                f"{module} imports {imported}"
            )

"""The shared conformance suite, run for oci:, oci-archive:, docker-archive: and dir:."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.transports.cases import DirCase, DockerArchiveCase, LayoutCase, OCIArchiveCase
from tests.transports.conformance import ConformanceCase, ConformanceSuite


class TestLayoutConformance(ConformanceSuite):
    @pytest.fixture
    def case(self, tmp_path: Path) -> ConformanceCase:
        return LayoutCase(tmp_path)


class TestOCIArchiveConformance(ConformanceSuite):
    @pytest.fixture
    def case(self, tmp_path: Path) -> ConformanceCase:
        return OCIArchiveCase(tmp_path)


class TestDockerArchiveConformance(ConformanceSuite):
    @pytest.fixture
    def case(self, tmp_path: Path) -> ConformanceCase:
        return DockerArchiveCase(tmp_path)


class TestDirConformance(ConformanceSuite):
    @pytest.fixture
    def case(self, tmp_path: Path) -> ConformanceCase:
        return DirCase(tmp_path)

"""Import released distilled sets (DatasetCondensation, MTT/DATM, ImageFolder trees, DD-Ranking inputs) as
ddbench artifacts, and export artifacts back to those formats. Loading never unpickles code."""

from benchmarks.interop import dc, ddranking, imagefolder, mtt  # noqa: F401  (each registers its format)
from benchmarks.interop.api import MANIFEST, export_set, import_set
from benchmarks.interop.formats import FORMATS, Options

__all__ = ["FORMATS", "MANIFEST", "Options", "export_set", "import_set"]

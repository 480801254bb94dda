"""Export and import of the knowledge graph as JSON, keyed by natural keys.

Database ids differ between installations, so every reference in the file is a natural key:
a problem is its fingerprint, a solution its problem's fingerprint and its title, a pattern
its name, a user its username. Importing sets rows to the file's values (never adds to
them), so importing the same file twice changes nothing, and an import into a fresh
installation reproduces the export. Embeddings are not exported: they are derived from the
text by the configured provider and are recomputed on import, so a file stays small and
valid across provider changes.
"""

from knowledge.backup.export import export_knowledge
from knowledge.backup.fileformat import FORMAT, VERSION, BackupFormatError
from knowledge.backup.load import check_format, import_knowledge

__all__ = [
    "FORMAT",
    "VERSION",
    "BackupFormatError",
    "check_format",
    "export_knowledge",
    "import_knowledge",
]

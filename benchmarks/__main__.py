"""``python -m benchmarks`` is the ``ddbench`` command."""

from benchmarks.cli import main

raise SystemExit(main())

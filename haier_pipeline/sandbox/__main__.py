"""Entry point of ``python -m haier_pipeline.sandbox``."""

from haier_pipeline.sandbox.cli import main

raise SystemExit(main())

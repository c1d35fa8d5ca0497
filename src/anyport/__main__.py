"""``python -m anyport`` runs the command-line interface."""

from anyport.cli.main import main

raise SystemExit(main())

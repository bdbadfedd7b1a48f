"""`python -m amrcli` runs the same client as the `amr` command."""

from amrcli.main import main

raise SystemExit(main())

"""``python -m crossrec`` is the same as the ``crossrec`` command."""

from crossrec.cli import main

raise SystemExit(main())

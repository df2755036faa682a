"""``python -m asyncdata`` is the ``asyncdata`` command."""

from asyncdata.cli import main

raise SystemExit(main())

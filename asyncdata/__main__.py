"""``python -m asyncdata`` is the ``asyncdata`` command."""

from asyncdata._cli import main

raise SystemExit(main())

"""``python -m aiops_sdk deploy --version X``: see :mod:`aiops_sdk.deploy`."""

from aiops_sdk.deploy import main

raise SystemExit(main())

"""``python -m conformance.catalogue_import carry-wording …`` (see ``commands._main``)."""

import sys

from conformance.catalogue_import.commands import _main

sys.exit(_main())

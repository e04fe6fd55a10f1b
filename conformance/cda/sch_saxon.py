"""SaxonC for the schematron layer: one processor per process, guarded by one lock.

Creating several ``PySaxonProcessor`` objects in one process is unsupported, so every module of the
schematron layer (compile, run) goes through :func:`saxon`.
"""

from __future__ import annotations

import threading
from pathlib import Path

saxon_lock = threading.RLock()
_saxon_state: dict[str, object] = {}


def saxon():  # -> tuple[PySaxonProcessor, PyXslt30Processor]
    with saxon_lock:
        if "proc" not in _saxon_state:
            from saxonche import PySaxonProcessor

            proc = PySaxonProcessor(license=False)
            # Rules such as terminologie.sch build doc() URIs from document content (codeSystem):
            # never let an untrusted document make Saxon open anything but local files.
            proc.set_configuration_property("http://saxon.sf.net/feature/allowedProtocols", "file")
            _saxon_state["proc"] = proc
            _saxon_state["xslt"] = proc.new_xslt30_processor()
        return _saxon_state["proc"], _saxon_state["xslt"]


def tool(name: str, path: Path):  # compiled pipeline stylesheet, kept for the process
    with saxon_lock:
        key = "tool:" + name
        if key not in _saxon_state:
            _proc, xslt = saxon()
            _saxon_state[key] = xslt.compile_stylesheet(stylesheet_file=str(path))
        return _saxon_state[key]


def saxon_message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:600] if text else exc.__class__.__name__


from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clearinghouse.core.errors import Invalid


def json_file_read(path: Path | str) -> Any:
    """A JSON document from a file named by an operator, with errors a person can act on."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Invalid(f"no such file: {path}") from None
    except json.JSONDecodeError as exc:
        raise Invalid(f"{path} is not valid JSON: {exc}") from None

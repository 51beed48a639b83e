"""System checks of the followups app: the YAML sequences shipped as data must follow their schema."""

from __future__ import annotations

from typing import Any

from django.core import checks


@checks.register()
def yaml_sequences_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A malformed ``followups/data/sequences/*.yaml`` stops start-up with the file, line and field."""
    from followups.yaml_sequences import SequenceFileError, load_sequences

    try:
        load_sequences()
    except SequenceFileError as exc:
        return [checks.Error(str(exc), hint="Fix the YAML sequence file.", obj=exc.path, id="followups.E001")]
    return []

"""Django admin of the compliance app (one module per area; imported here so autodiscovery finds them)."""

from compliance.admin import audit as audit
from compliance.admin import consent as consent
from compliance.admin import subjects as subjects

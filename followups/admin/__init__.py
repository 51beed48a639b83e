"""Django admin of the sequence engine: the sequence editor (steps, rules, preview, test send, figures) and
read-only pages for runs, emails and their events, plus the suppression list."""

from followups.admin import records as records
from followups.admin import sequences as sequences

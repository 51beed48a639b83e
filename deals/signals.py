"""Domain events of deals (SPEC §2): how deals tell higher floors what happened without importing them.

Every signal is sent after the transaction that made the change commits (``core.transactions.on_commit``),
so a receiver never sees a change that is later rolled back; a failing receiver is logged and does not
undo the change. Receivers connect in their app's ``AppConfig.ready()``.
"""

from django.dispatch import Signal

#: A deal moved to another stage (on the board, through the API, won or lost).
#: Sent with ``sender=PartnerDeal`` and the keyword arguments
#: ``deal`` (the PartnerDeal after the move), ``from_stage`` and ``to_stage`` (stage values, e.g. "closing" and
#: "won") and ``actor`` (the User who moved it, or None for the system or an API key).
#: Not sent for a deal's first stage when it is opened, nor for a "move" to the stage it is in.
deal_stage_changed = Signal()

"""Tasks of the deals app: none yet (a stage change is audited and announced by ``deals.signals``)."""

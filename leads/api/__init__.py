"""DRF endpoints of the leads app: ``leads`` (API-505–507) and ``pool`` (API-510–512, 550–553)."""

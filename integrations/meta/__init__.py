"""Meta Graph API client (Facebook Lead Ads, Instagram Send API; the Marketing API later)."""

"""The panel's HTML pages, one module per page or group of pages."""

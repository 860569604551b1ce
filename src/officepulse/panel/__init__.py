"""The panel: what people use. The pages, the REST API (/api/v1), the dashboards' live
websocket and the hub that feeds them, and what each viewer may see of the others."""

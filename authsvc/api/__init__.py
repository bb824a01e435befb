"""HTTP routers by feature, and the dependencies they share."""

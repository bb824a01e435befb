"""What the service tells its operators: logs, metrics and the audit trail."""

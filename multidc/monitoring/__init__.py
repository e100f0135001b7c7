"""Monitoring and alerting generated from the spec: alert rules from each system's targets,
the metrics they read, and Alertmanager's routes by tier (docs/monitoring.md)."""

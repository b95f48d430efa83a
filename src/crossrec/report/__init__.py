"""Aggregation of run metrics into tables (and, later, selection and plots)."""

"""Outbound clients for services outside our process."""

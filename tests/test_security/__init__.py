"""Tests of the limits that keep hostile templates from taking the service down."""

"""Codes: campaigns, their code pools, and the assignment of a code to a customer."""

"""Customers: records and their input, bulk rows and files, consent and suppression, segments."""

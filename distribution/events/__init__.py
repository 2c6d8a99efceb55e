"""Events: their input, ingestion (one by one or group-committed), the distributions they
trigger, and the signatures inbound events carry."""

"""Provider configs of a project (`store`), the senders built from them (`registry`), and the
callbacks providers post about deliveries (`callbacks`)."""

"""Infrastructure every part of the service may import: settings, the database connection, logs,
metrics, request ids and the event bus. It knows the domain's data types but no GraphQL, no
workers and no app: those import it, never the other way round."""

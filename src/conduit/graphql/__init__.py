"""GraphQL at /graphql (Strawberry): a thin adapter over the same use cases as REST."""

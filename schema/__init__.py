"""Steward's GraphQL schema: types, queries, mutations and loaders."""

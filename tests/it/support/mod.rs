//! Shared test helpers (`TestApp`, simulator boot, payload builders).

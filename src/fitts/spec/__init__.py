"""The model language: schema, YAML loading, composition, safe expressions, validation."""

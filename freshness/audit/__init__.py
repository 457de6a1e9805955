"""Writing, reading, chaining and verifying the audit records of retrievals."""

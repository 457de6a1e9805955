"""Retrievers for RAG frameworks on the Python client, as optional extras (SPEC §10):
`freshness[langchain]` for `freshness.integrations.langchain`, `freshness[llama-index]` for
`freshness.integrations.llama_index`. Both carry each chunk's provenance in its metadata and raise
`freshness.client.InsufficientContext` when the policy let too little through."""

"""freshness: versioned snapshots, freshness policies and an audit trail in front of a vector store."""

__version__ = "0.1.0"

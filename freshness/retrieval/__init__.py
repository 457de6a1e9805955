"""The retrieve use case: search, judge every candidate against the policy, record the answer."""

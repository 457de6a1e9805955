"""Evidence about answers after they were served: replay, policy dry run, outcomes and trust (SPEC §12)."""

"""Higher-level studies built from the methods: IOI circuit discovery and evaluation, the
relation-recall (Poland -> Warsaw) study."""

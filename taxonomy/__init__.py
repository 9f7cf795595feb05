"""The survey's taxonomy as validated data: challenge -> solution family -> technique."""
from .load import (  # noqa: F401
    DEFAULT_TAXONOMY,
    ENV_VAR,
    Taxonomy,
    TaxonomyError,
    load_taxonomy,
    parse_taxonomy,
)

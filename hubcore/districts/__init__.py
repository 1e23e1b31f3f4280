"""Districts: region packs, the postcode gazetteer and distances."""

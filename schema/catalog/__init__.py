"""The release catalog and maintenance slots."""

"""The YAML configuration files, shipped with the package so an installed worker finds them."""

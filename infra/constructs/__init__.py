"""One construct per concern; stacks compose them and wire the permission grants between them."""

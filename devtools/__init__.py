"""Developer tools, never deployed and never imported by the product: the Stripe emulator, the
demo, and the Stripe calls that build accounts for them."""

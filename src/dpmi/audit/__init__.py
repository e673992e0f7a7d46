"""Privacy audit beside the accountant: black-box membership inference (LiRA), a one-run white-box audit of
DP-SGD with gradient canaries, and identity-level (group) epsilon. See `dpmi.audit.api.run_audit`."""

"""dpmi: does model inversion get your people's faces back, and how much does DP-SGD stop it?"""

__version__ = "0.1.0"

"""AIJack-compatible `dpmi.attack` (as `aijack.attack`): MI_FACE."""

from dpmi.compat.mi_face import MI_FACE

__all__ = ["MI_FACE"]

/* BIT(n): the one definition of a single-bit mask, for feature words and ring masks. */
#ifndef VBRIDGE_VB_BIT_H
#define VBRIDGE_VB_BIT_H

#define BIT(n) (1ull << (n))

#endif

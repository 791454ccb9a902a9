/* array: the element count of a fixed array, the one macro every module's tables use. */
#ifndef CARETAKER_ARRAY_H
#define CARETAKER_ARRAY_H

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#endif
